"""Marker words for the names a message contains: which payment system it names, and whether it names
another company.

The n-gram blocks see "киви", "qiwi", "ківі" and "kiwi" as unrelated words, and each bank or shop
only through the messages that happened to name it. ``NameMarker`` appends one word per kind of name
to the normalised text: ``_qiwi_`` or ``_webmoney_`` for the provider the message names first
(``model.providers``), ``_other_`` when it names a company from the trainer's list of other banks,
wallets, shops and services (``training/other_services.txt``), so the classifier learns one weight for
each kind and applies it to every spelling and every listed name, frequent in training or not.

It runs between ``normalize`` and the vectorizers, in training and in serving alike; the list is a
parameter, so a fitted model keeps the list it was trained with.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from model.providers import provider_in_folded

OTHER = "_other_"
MAX_ENDING = 3  # letters a name of MIN_STEM letters or more may take after it (сбер -> сбера, приватбанку)
MIN_STEM = 4
_WORD = re.compile(r"\w+")
_HEAD = operator.itemgetter(slice(0, MIN_STEM))


def read_names(path: str | Path) -> tuple[str, ...]:
    """The names of a list file: one per line, ``#`` comments, ``=`` at the end for an exact-only name."""
    names = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if not _WORD.fullmatch(name.rstrip("=")) or name.rstrip("=") != name.rstrip("=").casefold().replace("ё", "е"):
            raise ValueError(f"{path}:{number}: a name must be one lower-case word (letters, digits, _), got {name!r}")
        names.append(name)
    return tuple(dict.fromkeys(names))


class NameMarker(TransformerMixin, BaseEstimator):
    """Normalised texts -> the same texts with a marker word for each kind of name they contain.

    Parameters
    ----------
    names : tuple of str, default=()
        Other companies' names, lower case, as ``read_names`` returns them: a word matches a name equal
        to it, or one of ``MIN_STEM`` letters or more that it starts with, followed by at most
        ``MAX_ENDING`` letters; a name ending in ``=`` matches only itself.
    providers : bool, default=True
        Whether to mark the provider the text names (``_qiwi_``, ``_webmoney_``).
    """

    def __init__(self, names: Sequence[str] = (), providers: bool = True):
        self.names = names
        self.providers = providers

    def fit(self, X=None, y=None):
        exact, stems = set(), set()
        for name in self.names:
            if not isinstance(name, str) or not name.rstrip("="):
                raise ValueError(f"names must be non-empty strings, got {name!r}")
            word = name.rstrip("=")
            exact.add(word)
            if len(word) >= MIN_STEM and not name.endswith("="):
                stems.add(word)
        self.exact_ = frozenset(exact)  # every name matches itself
        self.stems_ = frozenset(stems)  # these also with an ending
        # a word can match a stem only if its first MIN_STEM letters start one: one set look-up per word,
        # in C, rejects most messages
        self.heads_ = frozenset(w[:MIN_STEM] for w in stems)
        return self

    def names_other(self, text: str) -> bool:
        """Whether ``text`` (normalised) names one of the other companies."""
        words = _WORD.findall(text)
        if not self.exact_.isdisjoint(words):
            return True
        heads, stems = self.heads_, self.stems_
        if heads.isdisjoint(map(_HEAD, words)):
            return False
        for word in words:
            if len(word) > MIN_STEM and word[:MIN_STEM] in heads:
                for cut in range(max(MIN_STEM, len(word) - MAX_ENDING), len(word)):
                    if word[:cut] in stems:
                        return True
        return False

    def _mark(self, text: str) -> str:
        marks = []
        if self.providers:
            provider = provider_in_folded(text)
            if provider:
                marks.append(f"_{provider}_")
        if self.exact_ and self.names_other(text):
            marks.append(OTHER)
        return " ".join([text, *marks]) if marks else text

    def mark(self, text: str) -> str:
        """``text`` (normalised) with its marker words, if any, appended."""
        check_is_fitted(self, "exact_")
        return self._mark(text)

    def transform(self, X: Iterable[str]) -> list[str]:
        if isinstance(X, str):
            raise ValueError("expected a list of texts, got a single string")
        check_is_fitted(self, "exact_")
        return [self._mark(t) for t in X]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags
