"""The base of the pipeline's transformers that read a list of texts (not a numeric matrix)."""

from __future__ import annotations

from collections.abc import Iterable

from sklearn.base import BaseEstimator, TransformerMixin


def as_texts(X: Iterable) -> list[str]:
    """``X`` as a list of strings (None -> ""); a single string is refused, not read as characters."""
    if isinstance(X, str):
        raise ValueError("expected a list of texts, got a single string")
    return ["" if t is None else str(t) for t in X]


class TextTransformer(TransformerMixin, BaseEstimator):
    """A scikit-learn transformer of texts: its tags say it takes strings, not a 2-D array, and needs ``fit``."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags
