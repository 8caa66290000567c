"""TF-IDF features for a batch of texts at numpy speed, from a fitted ``TfidfVectorizer``.

scikit-learn's vectorizers build every n-gram of every text as a Python string and count them in a
Python dict: for the router's character n-grams that was about three quarters of a batch's time. A
``FastTfidf`` is a view of a *fitted* vectorizer that computes the same matrix with whole-batch
array operations:

- ``char_wb``: the batch becomes one array of character codes in which neighbouring words share the
  space scikit-learn pads each word with. Every vocabulary character gets a code from 1 to 255, so an
  n-gram (n <= 7) is exactly one integer, its codes as base-256 digits, and different n-grams are
  different integers (no hashing, no collisions). The n-grams of every length are found with shifts
  of that array.
- ``word``: the vectorizer's own token pattern splits each text; every token is looked up once in a
  dict of the vocabulary's tokens, and the token n-grams become integers the same way (base: the
  number of vocabulary tokens + 1).

The keys are looked up in a direct table (short n-grams) or a pandas hash index (``_Columns``).

The counts then go through the vectorizer's own steps (sublinear tf, ``idf_``, l2 normalisation: each
row's squares summed in column order, as scikit-learn's ``normalize`` does) in the same order, so the
matrix equals ``vectorizer.transform(texts)`` (``tests/model/test_features.py``
checks that on real and adversarial texts). A vectorizer this does not cover (another analyzer, stop
words, a preprocessor, lowercasing, an alphabet over 255 characters) keeps scikit-learn's transform:
``FastTfidf.supports`` says which.

``FastTfidf.add_scores`` is what the router's scorer calls, for a batch or one question: the TF-IDF
matrix times the classifier's weights, computed by a compiled kernel (``model/kernels.py``) from the
same integer keys without building the matrix, for every ``char_wb`` vectorizer covered here and
``word`` ones whose tokens are runs of word characters; the others take the matrix and scipy's product.
"""

from __future__ import annotations

import queue
import re
from collections.abc import Sequence
from itertools import chain, repeat

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from model import kernels

# code points str.split() treats as whitespace (none lies above U+3000; tests/model checks all of Unicode)
_SPACE = np.zeros(0x3001, dtype=bool)
_SPACE[[c for c in range(0x3001) if chr(c).isspace()]] = True
_CHAR_BITS = 8
_MAX_CHAR_N = 63 // _CHAR_BITS  # longest char n-gram whose key fits in an int64
_INT32_CELLS = 2**31  # (row, column) cells of a batch below this: keys as int32, else int64


# token patterns whose tokens are exactly the runs of at least so many word characters (the kernel's tokens)
_RUN_PATTERNS = {r"(?u)\b\w+\b": 1, r"\b\w+\b": 1, r"(?u)\b\w\w+\b": 2, r"\b\w\w+\b": 2}


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _encode(docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The batch's code points, one text after another, and where each text starts (and the last ends)."""
    starts = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, docs), dtype=np.int64, count=len(docs)), out=starts[1:])
    return _codepoints("".join(docs)), starts


class _Columns:
    """Vocabulary columns of integer n-gram keys: a direct table for the keys under ``direct`` (the short
    n-grams, most of a text's), a pandas hash index for the others; -1 for a key not in the vocabulary."""

    def __init__(self, keys: np.ndarray, cols: np.ndarray, direct: int):
        short = keys < direct
        self.table = np.full(direct, -1, dtype=np.int64)
        self.table[keys[short]] = cols[short]
        self.direct = direct
        self.index = pd.Index(keys[~short])
        self.index_cols = cols[~short]
        # the same long keys in an open-addressing table, for the compiled kernels (model/kernels.py)
        self.slot_keys, self.slot_values = kernels.build_table(
            keys[~short], cols[~short], kernels.table_size(int((~short).sum()))
        )

    def __call__(self, keys: np.ndarray) -> np.ndarray:
        out = np.full(len(keys), -1, dtype=np.int64)
        short = keys < self.direct
        out[short] = self.table[keys[short]]
        found = self.index.get_indexer(keys[~short])
        out[~short] = np.where(found >= 0, self.index_cols[found], -1)
        return out


class _CharWb:
    """Counts of a fitted ``char_wb`` vocabulary's n-grams, as (rows, cols) pairs.

    The batch is one string, " text1 text2 ... ", so neighbouring words share the space that
    scikit-learn pads each of them with. An n-gram of a padded word is then a window with no space
    inside it (at its ends only), and not two spaces alone; the unigram " " is counted twice a word."""

    compiled = True  # kernels.char_wb_scores covers every vocabulary this class does

    def __init__(self, vocabulary: dict[str, int], ngram_range: tuple[int, int]):
        self.min_n, self.max_n = ngram_range
        alphabet = sorted({" "} | {c for term in vocabulary for c in term})
        self.lut = np.zeros(0x110000, dtype=np.uint8)  # code point -> 1..255; 0 = not in any vocabulary term
        self.lut[[ord(c) for c in alphabet]] = np.arange(1, len(alphabet) + 1)
        self.space = self.lut[ord(" ")]
        self.space_col = vocabulary.get(" ", -1) if self.min_n == 1 else -1
        keys = np.array([self._key(t) for t in vocabulary], dtype=np.int64)
        cols = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))
        self.columns = _Columns(keys, cols, direct=2 ** (2 * _CHAR_BITS))  # unigrams and bigrams in the table

    @staticmethod
    def fits(vocabulary: dict[str, int], ngram_range: tuple[int, int]) -> bool:
        # min_n <= 3: every padded word (3 characters at least) has n-grams of every length from min_n
        return (
            ngram_range[0] <= 3
            and ngram_range[1] <= _MAX_CHAR_N
            and len({" "} | {c for t in vocabulary for c in t}) < 2**_CHAR_BITS
        )

    def _key(self, term: str) -> int:
        key = 0
        for c in term:
            key = (key << _CHAR_BITS) | int(self.lut[ord(c)])
        return key

    def pairs(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        cp = _codepoints(" " + " ".join(docs) + " ")
        total = len(cp)
        space = (cp <= 0x3000) & _SPACE[np.minimum(cp, 0x3000)]
        codes = self.lut[cp]
        codes[space] = self.space
        doc_of = np.repeat(np.arange(len(docs) + 1) - 1, np.concatenate([[1], lengths + 1]))  # -1: the leading space
        spaces = np.concatenate([[0], np.cumsum(space)])
        unknown = np.concatenate([[0], np.cumsum(codes == 0)])  # n-grams with an unknown character are in no vocabulary
        key = codes.astype(np.int64)
        rows, cols = [], []
        for n in range(1, self.max_n + 1):
            m = total - n + 1
            if m <= 0:
                break
            if n > 1:
                key[:m] = (key[:m] << _CHAR_BITS) | codes[n - 1 :]
            if n < self.min_n:
                continue
            if n == 1:
                ok = ~space
            else:
                ok = spaces[n - 1 : m + n - 1] == spaces[1 : m + 1]  # no space inside the window
                if n == 2:
                    ok &= ~(space[:m] & space[1 : m + 1])
            ok &= unknown[n : m + n] == unknown[:m]
            at = np.flatnonzero(ok)
            col = self.columns(key[at])
            hit = col >= 0
            at = at[hit]
            rows.append(doc_of[at + space[at]])  # a window that starts with a space belongs to the next word
            cols.append(col[hit])
        if self.space_col >= 0:  # " " twice for every word: once before it, once after it
            edges = np.diff((~space).astype(np.int8), prepend=0)
            starts = np.flatnonzero(edges == 1)
            words = np.bincount(doc_of[starts], minlength=len(docs))
            has = np.flatnonzero(words)
            rows.append(np.repeat(has, 2 * words[has]))
            cols.append(np.full(2 * int(words.sum()), self.space_col, dtype=np.int64))
        return np.concatenate(rows), np.concatenate(cols)

    def add_scores(
        self, docs: Sequence[str], tfidf: FastTfidf, weights: np.ndarray, scale: float, out: np.ndarray, scratch
    ) -> None:
        cp, starts = _encode(docs)
        space = (cp <= 0x3000) & _SPACE[np.minimum(cp, 0x3000)]
        c = self.columns
        kernels.char_wb_scores(
            self.lut[cp], space, starts, int(self.space), self.min_n, self.max_n, c.table, c.slot_keys, c.slot_values,
            tfidf.idf, tfidf.sublinear, tfidf.norm == "l2", weights, scale, out, scratch,
        )  # fmt: skip


class _Word:
    """Counts of a fitted ``word`` vocabulary's token n-grams, as (rows, cols) pairs."""

    def __init__(self, vocabulary: dict[str, int], ngram_range: tuple[int, int], token_pattern: str):
        self.min_n, self.max_n = ngram_range
        self.findall = re.compile(token_pattern).findall
        tokens = sorted({tok for term in vocabulary for tok in term.split(" ")})
        self.token_id = {tok: i + 1 for i, tok in enumerate(tokens)}  # 0: a token no vocabulary term has
        self.base = len(tokens) + 1
        keys = np.array([self._key(t) for t in vocabulary], dtype=np.int64)
        cols = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))
        self.columns = _Columns(keys, cols, direct=self.base)  # unigrams (a token id each) in the table
        self.min_len = _RUN_PATTERNS.get(token_pattern)  # tokens are runs of this many word characters or more
        self.compiled = self.min_len is not None
        if self.compiled:  # the tokens' code points, for the compiled kernel's token ids
            self.chars = _codepoints("".join(tokens))
            self.bounds = np.zeros(len(tokens) + 1, dtype=np.int64)
            np.cumsum([len(t) for t in tokens], out=self.bounds[1:])
            self.slots = kernels.build_token_table(self.chars, self.bounds, kernels.table_size(len(tokens)))

    @staticmethod
    def fits(vocabulary: dict[str, int], ngram_range: tuple[int, int], token_pattern: str) -> bool:
        if re.compile(token_pattern).groups:
            return False
        tokens = {tok for term in vocabulary for tok in term.split(" ")}
        return (len(tokens) + 1) ** ngram_range[1] < 2**63

    def _key(self, term: str) -> int:
        key = 0
        for tok in term.split(" "):
            key = key * self.base + self.token_id[tok]
        return key

    def pairs(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        per_doc = [self.findall(d) for d in docs]
        counts = np.fromiter(map(len, per_doc), dtype=np.int64, count=len(docs))
        ids = np.fromiter(
            map(self.token_id.get, chain.from_iterable(per_doc), repeat(0)), dtype=np.int64, count=int(counts.sum())
        )
        doc_of = np.repeat(np.arange(len(docs)), counts)
        total = len(ids)
        unknown = np.concatenate([[0], np.cumsum(ids == 0)])
        key = ids.copy()
        rows, cols = [], []
        for n in range(1, self.max_n + 1):
            if n > 1:
                key[: total - n + 1] = key[: total - n + 1] * self.base + ids[n - 1 :]
            if n < self.min_n:
                continue
            at = np.arange(max(total - n + 1, 0))
            at = at[(doc_of[at] == doc_of[at + n - 1]) & (unknown[at + n] == unknown[at])]
            col = self.columns(key[at])
            hit = col >= 0
            rows.append(doc_of[at[hit]])
            cols.append(col[hit])
        return np.concatenate(rows), np.concatenate(cols)

    def add_scores(
        self, docs: Sequence[str], tfidf: FastTfidf, weights: np.ndarray, scale: float, out: np.ndarray, scratch
    ) -> None:
        cp, starts = _encode(docs)
        c = self.columns
        kernels.word_scores(
            cp, kernels.word_characters(), starts, self.min_len, self.slots, self.chars, self.bounds, self.base,
            self.min_n, self.max_n, c.table, c.slot_keys, c.slot_values, tfidf.idf, tfidf.sublinear, tfidf.norm == "l2",
            weights, scale, out, scratch,
        )  # fmt: skip


class FastTfidf:
    """``vectorizer.transform`` for a fitted ``TfidfVectorizer`` that ``supports`` accepts."""

    def __init__(self, vectorizer: TfidfVectorizer):
        if not self.supports(vectorizer):
            raise ValueError("FastTfidf covers char_wb and word TfidfVectorizers without preprocessing only")
        self._build(vectorizer)

    @classmethod
    def of(cls, vectorizer) -> FastTfidf | None:
        """A ``FastTfidf`` of ``vectorizer``, or None when ``supports`` refuses it: the check runs once (it
        walks the whole vocabulary, ~60 ms for the default model's two blocks)."""
        if not cls.supports(vectorizer):
            return None
        fast = cls.__new__(cls)
        fast._build(vectorizer)
        return fast

    def _build(self, v: TfidfVectorizer) -> None:
        if v.analyzer == "char_wb":
            self.counter = _CharWb(v.vocabulary_, v.ngram_range)
        else:
            self.counter = _Word(v.vocabulary_, v.ngram_range, v.token_pattern)
        self.n_features = len(v.vocabulary_)
        self.idf = np.asarray(v.idf_, dtype=np.float64)
        self.sublinear = bool(v.sublinear_tf)
        self.norm = v.norm
        self._scratch: queue.SimpleQueue = queue.SimpleQueue()  # the kernels' work arrays not in use now

    @staticmethod
    def supports(v) -> bool:
        if not isinstance(v, TfidfVectorizer) or not hasattr(v, "vocabulary_") or not v.use_idf:
            return False
        plain = (
            v.input == "content"
            and not v.lowercase
            and v.preprocessor is None
            and v.tokenizer is None
            and v.strip_accents is None
            and v.stop_words is None
            and v.dtype == np.float64
        )
        if not plain or not v.vocabulary_:
            return False
        if v.analyzer == "char_wb":
            return _CharWb.fits(v.vocabulary_, v.ngram_range)
        if v.analyzer == "word":
            return v.token_pattern is not None and _Word.fits(v.vocabulary_, v.ngram_range, v.token_pattern)
        return False

    @property
    def compiled(self) -> bool:
        """Whether ``add_scores`` runs a compiled kernel (else the sparse matrix and scipy's product)."""
        return self.norm in ("l2", None) and self.counter.compiled

    def add_scores(self, docs: Sequence[str], weights: np.ndarray, scale: float, out: np.ndarray) -> None:
        """``out += scale * (self.transform(docs) @ weights)``, to float rounding. ``weights``: float64,
        C-contiguous rows; ``out``: float64 (len(docs), classes)."""
        if self.compiled and len(docs):
            try:
                scratch = self._scratch.get_nowait()
            except queue.Empty:  # as many sets as calls that ever ran at once (threads)
                scratch = kernels.new_scratch(self.n_features)
            self.counter.add_scores(docs, self, weights, scale, out, scratch)
            self._scratch.put(scratch)  # not after an error: its counts may not be back at zero
            return
        scores = np.asarray(self.transform(docs) @ weights)
        if scale != 1.0:
            scores *= scale
        out += scores

    def transform(self, docs: Sequence[str]) -> sparse.csr_matrix:
        docs = list(docs)
        n, size = len(docs), self.n_features
        rows, cols = self.counter.pairs(docs)
        # one integer per (row, column), sorted: the CSR order; int32 (twice as fast to sort) when it fits
        itype = np.int64 if n * size >= _INT32_CELLS or len(rows) >= _INT32_CELLS else np.int32
        cells = np.sort((rows * size + cols).astype(itype, copy=False))
        new = np.empty(len(cells), dtype=bool)
        new[:1] = True
        np.not_equal(cells[1:], cells[:-1], out=new[1:])
        first = np.flatnonzero(new)
        counts = np.diff(first, append=len(cells)).astype(np.float64)
        cells = cells[first]
        row_of = cells // itype(size)
        indices = cells - row_of * itype(size)
        per_row = np.bincount(row_of, minlength=n)
        indptr = np.zeros(n + 1, dtype=itype)
        np.cumsum(per_row, out=indptr[1:])
        if self.sublinear:
            np.log(counts, counts)
            counts += 1.0
        counts *= self.idf[indices]
        if self.norm == "l2":  # sklearn's row normalisation: each row's squares summed in column order, then divided
            norms = np.sqrt(np.bincount(row_of, weights=counts * counts, minlength=n))
            counts /= np.repeat(norms, per_row)
        X = sparse.csr_matrix((counts, indices, indptr), shape=(n, size))
        return normalize(X, norm=self.norm, copy=False) if self.norm not in (None, "l2") and n else X
