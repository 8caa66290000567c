"""A dense feature block of static word-piece vectors (WordLlama): words of like meaning close together.

The TF-IDF blocks know a word only if the training messages used it (or, for the character block,
its spelling), and words of like meaning only as unrelated columns. ``PieceEmbedding`` gives every
text a 256-dimensional vector in which they lie close, words no training message had included: each
run of word characters of the normalised text, with the ``▁`` that starts a word before it, is cut
from left to right into the longest word pieces of WordLlama's vocabulary (a 32,000-piece Llama 2
tokenizer), and the pieces' static vectors are summed; the text's vector is that sum at unit length,
times ``weight``. WordLlama's vectors were trained so that such averages of a sentence's pieces
embed the sentence (its ``l2_supercat`` 256-dimensional model, which the ``wordllama`` package carries
inside its wheel: nothing is downloaded).

The cut is greedy longest-match, not the tokenizer's own BPE: both give the same pieces for common
words, and greedy needs nothing but a table look-up per try, so a compiled kernel
(``kernels.piece_sums``) does it in one pass over a batch's characters, as the n-gram kernels do.
``tests/model/test_pieces.py`` checks it against the rule written in plain Python.

The pieces and their vectors are copied into the fitted transformer (about 15 MB, float16), so a
trained model needs the ``wordllama`` package only to be trained, never to serve. The vectors are
English-centred: they help on the English public benchmarks and not on the Russian and Ukrainian
domain data, and the trainer gives the block the weight validation data choose, 0 (no block) included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from importlib import metadata, util
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from model import kernels
from model.features import encode_docs, token_table
from model.text import TextTransformer, as_texts

PACKAGE = "wordllama"
MODEL = "l2_supercat_256"
WEIGHTS = "weights/l2_supercat_256.safetensors"
TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
START = "\u2581"  # what the tokenizer puts before every word
_WORD = re.compile(r"\w+")


class PiecesUnavailable(RuntimeError):
    """The package with the word-piece vectors is missing or unreadable; the message says how to fix it."""


def _piece_word(piece: str) -> bool:
    rest = piece[1:] if piece.startswith(START) else piece
    return bool(_WORD.fullmatch(rest))


@cache
def read_source() -> tuple[tuple[str, ...], np.ndarray, str]:
    """The pieces of WordLlama's vocabulary made of word characters (with or without the ``▁`` that
    starts a word), their vectors less the pieces' mean vector (float16, one row each) and the
    ``wordllama`` version they came from."""
    spec = util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PiecesUnavailable(f"the word-piece block needs the {PACKAGE} package: pip install {PACKAGE}")
    root = Path(next(iter(spec.submodule_search_locations)))
    try:
        from safetensors.numpy import load_file

        vocab = json.loads((root / TOKENIZER).read_text(encoding="utf-8"))["model"]["vocab"]
        table = load_file(str(root / WEIGHTS))["embedding.weight"]
    except (OSError, KeyError, ValueError, ImportError) as e:
        raise PiecesUnavailable(f"cannot read the word-piece vectors of {PACKAGE} in {root}: {e}") from None
    kept = sorted((i, p) for p, i in vocab.items() if _piece_word(p) and i < len(table))
    pieces = tuple(p for _, p in kept)
    vectors = table[[i for i, _ in kept]].astype(np.float32)
    vectors -= vectors.mean(axis=0)  # centred: what all pieces share says nothing of a text
    return pieces, vectors.astype(np.float16), metadata.version(PACKAGE)


class PieceEmbedding(TextTransformer):
    """Normalised texts -> ``weight`` x the unit-length sum of their word pieces' vectors (zeros for a
    text without a piece).

    Parameters
    ----------
    weight : float, default=1.0
        Scale of the block against the TF-IDF blocks (each of unit length per row).
    """

    def __init__(self, weight: float = 1.0):
        self.weight = weight

    def fit(self, X=None, y=None):
        """Copies the pieces and vectors of the installed ``wordllama`` (nothing is learnt from ``X``)."""
        pieces, vectors, version = read_source()
        self.chars_, self.bounds_, self.slots_ = token_table(pieces)
        self.longest_ = max(map(len, pieces))
        self.vectors_ = vectors
        self.source_ = {"package": PACKAGE, "version": version, "model": MODEL, "pieces": len(pieces)}
        return self

    def _vectors32(self) -> np.ndarray:
        v = self.__dict__.get("_f32")
        if v is None:  # the kernel sums float32; the float16 table is what pickles
            v = self.__dict__["_f32"] = self.vectors_.astype(np.float32)
        return v

    def _cut(self, docs: Sequence[str], projected: np.ndarray, scale: float, out: np.ndarray) -> np.ndarray:
        vectors = self._vectors32()
        sums = np.zeros((len(docs), vectors.shape[1]), dtype=np.float64)
        if len(docs):
            cp, starts = encode_docs(docs)
            kernels.piece_sums(
                cp, kernels.word_characters(), starts, ord(START), self.slots_, self.chars_, self.bounds_, self.longest_,
                vectors, projected, scale, sums, out,
            )  # fmt: skip
        return sums

    def embed(self, docs: Sequence[str]) -> np.ndarray:
        """The block's rows for ``docs`` (a list of normalised texts), without the fitted check."""
        out = self._cut(docs, np.empty((len(self.vectors_), 0)), 0.0, np.empty((len(docs), 0)))
        norm = np.sqrt(np.einsum("ij,ij->i", out, out))
        norm[norm == 0] = 1.0
        out *= (self.weight / norm)[:, None]
        return out

    def projection(self, weights: np.ndarray) -> np.ndarray:
        """Each piece's vector times ``weights`` (the classifier's rows for this block: dim x classes)."""
        return np.ascontiguousarray(self._vectors32().astype(np.float64) @ weights)

    def add_scores(self, docs: Sequence[str], projected: np.ndarray, scale: float, out: np.ndarray) -> None:
        """``out += scale * embed(docs) @ weights`` (``projected``: ``projection(weights)``), to float rounding,
        without a product per text: the sum of the pieces' projected rows, over the sum's length."""
        self._cut(docs, projected, scale * self.weight, out)

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "vectors_")
        return self.embed(as_texts(X))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "vectors_")
        return np.array([f"piece_vector_{i}" for i in range(self.vectors_.shape[1])], dtype=object)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_f32", None)
        return state
