"""Marker words for the names a message contains: which payment system it names, and whether it names
another company.

The n-gram blocks see "киви", "qiwi", "ківі" and "kiwi" as unrelated words, and each bank or shop
only through the messages that happened to name it. ``NameMarker`` appends one word per kind of name
to the normalised text: ``_qiwi_`` or ``_webmoney_`` for the provider the message names first
(``model.providers``), ``_other_`` when it names a company from the trainer's list of other banks,
wallets, shops and services (``training/other_services.txt``), so the classifier learns one weight for
each kind and applies it to every spelling and every listed name, frequent in training or not.

The names are searched for by a compiled kernel (``kernels.names_found``: the runs of word characters,
looked up in a table of the names), a batch at a time; ``tests/model/test_names.py`` checks it against
a plain-Python statement of the rule.

It runs between ``normalize`` and the vectorizers, in training and in serving alike; the list is a
parameter, so a fitted model keeps the list it was trained with.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from model import kernels
from model.features import encode_docs, token_table
from model.providers import provider_in_folded
from model.text import TextTransformer, as_texts

OTHER = "_other_"
MAX_ENDING = 3  # characters a name of MIN_STEM or more may take after it (сбер -> сбера, приватбанку)
MIN_STEM = 4
_WORD = re.compile(r"\w+")


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


class NameMarker(TextTransformer):
    """Normalised texts -> the same texts with a marker word for each kind of name they contain.

    Parameters
    ----------
    names : tuple of str, default=()
        Other companies' names, lower case, as ``read_names`` returns them: a word matches a name equal
        to it, or one of ``MIN_STEM`` characters or more that it starts with, followed by at most
        ``MAX_ENDING`` more word characters; a name ending in ``=`` matches only itself. A word is a
        run of word characters (``re``'s ``\\w``).
    providers : bool, default=True
        Whether to mark the provider the text names (``_qiwi_``, ``_webmoney_``).
    """

    def __init__(self, names: Sequence[str] = (), providers: bool = True):
        self.names = names
        self.providers = providers

    def fit(self, X=None, y=None):
        words: dict[str, bool] = {}  # name -> whether it may take an ending
        for name in self.names:
            if not isinstance(name, str) or not name.rstrip("="):
                raise ValueError(f"names must be non-empty strings, got {name!r}")
            word = name.rstrip("=")
            words.setdefault(word, False)
            if len(word) >= MIN_STEM and not name.endswith("="):
                words[word] = True
        # the compiled search's table (model/kernels.py): every name matches itself, those with stem_ also
        # with an ending
        ordered = sorted(words)
        self.chars_, self.bounds_, self.slots_ = token_table(ordered)
        self.stem_ = np.array([words[w] for w in ordered], dtype=bool)
        return self

    def names_other(self, docs: Sequence[str]) -> np.ndarray:
        """For each text (normalised): whether it names one of the other companies."""
        check_is_fitted(self, "stem_")
        return self._found(docs)

    def _found(self, docs: Sequence[str]) -> np.ndarray:
        if not len(self.stem_) or not len(docs):
            return np.zeros(len(docs), dtype=bool)
        cp, starts = encode_docs(docs)
        return kernels.names_found(
            cp, kernels.word_characters(), starts, self.slots_, self.chars_, self.bounds_, self.stem_, MIN_STEM, MAX_ENDING
        )

    def mark_docs(self, docs: Sequence[str]) -> list[str]:
        """The texts (a list of normalised strings) with their marker words appended, without the fitted
        check (``check_is_fitted`` costs ~3 µs, the scorer's per-question path calls this)."""
        out = []
        for text, named in zip(docs, self._found(docs).tolist()):
            provider = provider_in_folded(text) if self.providers else None
            if provider:
                text = f"{text} _{provider}_"
            out.append(f"{text} {OTHER}" if named else text)
        return out

    def mark(self, text: str) -> str:
        """``text`` (normalised) with its marker words, if any, appended."""
        return self.mark_docs([text])[0]

    def transform(self, X: Iterable[str]) -> list[str]:
        check_is_fitted(self, "stem_")
        return self.mark_docs(as_texts(X))
