"""A fitted ``TfidfVectorizer``'s TF-IDF times a classifier's weights, by the compiled kernels.

scikit-learn's vectorizers build every n-gram of every text as a Python string and count them in a
Python dict, then the sparse matrix is multiplied by the weights. A ``FastTfidf`` is a view of a
*fitted* vectorizer that the kernels of ``model/kernels.py`` score texts with, without either:

- ``char_wb``: every vocabulary character gets a code from 1 to 255, so an n-gram (n <= 7) is exactly
  one integer, its codes as base-256 digits, and different n-grams are different integers (no hashing,
  no collisions).
- ``word`` whose tokens are runs of word characters (the token patterns ``\\b\\w+\\b`` and
  ``\\b\\w\\w+\\b``): every vocabulary token gets an id, and a token n-gram is one integer of ids
  (base: the number of vocabulary tokens + 1).

The keys are looked up in a direct table (short n-grams) or an open-addressing table (``_Columns``).
The scores agree with ``vectorizer.transform(texts) @ weights`` to float rounding
(``tests/model/test_kernels.py``, on real and adversarial texts). A vectorizer this does not cover
(another analyzer or token pattern, stop words, a preprocessor, lowercasing, an l1 norm, an alphabet
over 255 characters) keeps scikit-learn's transform: ``FastTfidf.supports`` says which.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from model import kernels

# code points str.split() treats as whitespace (none lies above U+3000; tests/model checks all of Unicode)
_SPACE = np.zeros(0x3001, dtype=bool)
_SPACE[[c for c in range(0x3001) if chr(c).isspace()]] = True
_CHAR_BITS = 8
_MAX_CHAR_N = 63 // _CHAR_BITS  # longest char n-gram whose key fits in an int64


# token patterns whose tokens are exactly the runs of at least so many word characters (the kernel's tokens)
_RUN_PATTERNS = {r"(?u)\b\w+\b": 1, r"\b\w+\b": 1, r"(?u)\b\w\w+\b": 2, r"\b\w\w+\b": 2}


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def encode_docs(docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The batch's code points, one text after another, and where each text starts (and the last ends)."""
    starts = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, docs), dtype=np.int64, count=len(docs)), out=starts[1:])
    return _codepoints("".join(docs)), starts


def token_table(tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernels' table of ``tokens`` (id t + 1 for ``tokens[t]``): their code points one after another,
    where each starts (and the last ends), and the hash slots of ``kernels.build_token_table``."""
    chars = _codepoints("".join(tokens))
    bounds = np.zeros(len(tokens) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in tokens], out=bounds[1:])
    return chars, bounds, kernels.build_token_table(chars, bounds, kernels.table_size(len(tokens)))


class _Columns:
    """Vocabulary columns of integer n-gram keys: a direct table for the keys under ``direct`` (the short
    n-grams, most of a text's), an open-addressing table (``kernels.build_table``) for the others."""

    def __init__(self, keys: np.ndarray, cols: np.ndarray, direct: int):
        short = keys < direct
        self.table = np.full(direct, -1, dtype=np.int64)
        self.table[keys[short]] = cols[short]
        self.slot_keys, self.slot_values = kernels.build_table(
            keys[~short], cols[~short], kernels.table_size(int((~short).sum()))
        )


class _CharWb:
    """A fitted ``char_wb`` vocabulary's character codes and n-gram keys, for ``kernels.char_wb_scores``."""

    def __init__(self, vocabulary: dict[str, int], ngram_range: tuple[int, int]):
        self.min_n, self.max_n = ngram_range
        alphabet = sorted({" "} | {c for term in vocabulary for c in term})
        self.lut = np.zeros(0x110000, dtype=np.uint8)  # code point -> 1..255; 0 = not in any vocabulary term
        self.lut[[ord(c) for c in alphabet]] = np.arange(1, len(alphabet) + 1)
        self.space = self.lut[ord(" ")]
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

    def add_scores(
        self, docs: Sequence[str], tfidf: FastTfidf, weights: np.ndarray, scale: float, out: np.ndarray, scratch
    ) -> None:
        cp, starts = encode_docs(docs)
        space = (cp <= 0x3000) & _SPACE[np.minimum(cp, 0x3000)]
        c = self.columns
        kernels.char_wb_scores(
            self.lut[cp], space, starts, int(self.space), self.min_n, self.max_n, c.table, c.slot_keys, c.slot_values,
            tfidf.idf, tfidf.sublinear, tfidf.l2, weights, scale, out, scratch,
        )  # fmt: skip


class _Word:
    """A fitted ``word`` vocabulary's token ids and n-gram keys, for ``kernels.word_scores``."""

    def __init__(self, vocabulary: dict[str, int], ngram_range: tuple[int, int], token_pattern: str):
        self.min_n, self.max_n = ngram_range
        tokens = sorted({tok for term in vocabulary for tok in term.split(" ")})
        self.token_id = {tok: i + 1 for i, tok in enumerate(tokens)}  # 0: a token no vocabulary term has
        self.base = len(tokens) + 1
        keys = np.array([self._key(t) for t in vocabulary], dtype=np.int64)
        cols = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))
        self.columns = _Columns(keys, cols, direct=self.base)  # unigrams (a token id each) in the table
        self.min_len = _RUN_PATTERNS[token_pattern]  # tokens are runs of this many word characters or more
        self.chars, self.bounds, self.slots = token_table(tokens)  # for the kernel's token ids

    @staticmethod
    def fits(vocabulary: dict[str, int], ngram_range: tuple[int, int], token_pattern: str) -> bool:
        if token_pattern not in _RUN_PATTERNS:
            return False
        tokens = {tok for term in vocabulary for tok in term.split(" ")}
        return (len(tokens) + 1) ** ngram_range[1] < 2**63

    def _key(self, term: str) -> int:
        key = 0
        for tok in term.split(" "):
            key = key * self.base + self.token_id[tok]
        return key

    def add_scores(
        self, docs: Sequence[str], tfidf: FastTfidf, weights: np.ndarray, scale: float, out: np.ndarray, scratch
    ) -> None:
        cp, starts = encode_docs(docs)
        c = self.columns
        kernels.word_scores(
            cp, kernels.word_characters(), starts, self.min_len, self.slots, self.chars, self.bounds, self.base,
            self.min_n, self.max_n, c.table, c.slot_keys, c.slot_values, tfidf.idf, tfidf.sublinear, tfidf.l2,
            weights, scale, out, scratch,
        )  # fmt: skip


class FastTfidf:
    """``scale * (vectorizer.transform(docs) @ weights)`` for a fitted ``TfidfVectorizer`` that
    ``supports`` accepts, by the compiled kernels."""

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
        self.l2 = v.norm == "l2"
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
            and v.norm in ("l2", None)
        )
        if not plain or not v.vocabulary_:
            return False
        if v.analyzer == "char_wb":
            return _CharWb.fits(v.vocabulary_, v.ngram_range)
        if v.analyzer == "word":
            return _Word.fits(v.vocabulary_, v.ngram_range, v.token_pattern)
        return False

    def add_scores(self, docs: Sequence[str], weights: np.ndarray, scale: float, out: np.ndarray) -> None:
        """``out += scale * (vectorizer.transform(docs) @ weights)``, to float rounding. ``weights``:
        float64, C-contiguous rows; ``out``: float64 (len(docs), classes)."""
        if not len(docs):
            return
        try:
            scratch = self._scratch.get_nowait()
        except queue.Empty:  # as many sets as calls that ever ran at once (threads)
            scratch = kernels.new_scratch(self.n_features)
        self.counter.add_scores(docs, self, weights, scale, out, scratch)
        self._scratch.put(scratch)  # not after an error: its counts may not be back at zero
