"""Which fitted vectorizers FastTfidf (model/features.py) covers; tests/model/test_kernels.py checks its scores."""

from __future__ import annotations

import random
import sys

import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from model.features import _SPACE, FastTfidf

# words, unicode whitespace of several kinds, characters outside any vocabulary (emoji beyond the BMP,
# CJK), one-letter words, digits and punctuation
_PIECES = [
    "карта", "картка", "card", "не", "работает", "qiwi", "киви", "вебмани", "код", "sms", "a", "я", "і",
    "оплата", "payment", "!!!", "?", "5", "_num_", "wm-keeper", "пж", "😡", "猫", "x", "ё",
    " ", " ", " ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u3000", "\x1c", "\x85",
]  # fmt: skip


def _random_texts(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    texts = ["".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 14))) for _ in range(n)]
    return texts + ["", " ", "\t\u3000", "a", "я", "😡", "猫猫猫 猫", "x" * 40]


# vectorizer settings FastTfidf covers (tests/model/test_kernels.py scores texts with each)
COVERED_SETTINGS = [
    {"analyzer": "char_wb", "ngram_range": (1, 4)},
    {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 2},
    {"analyzer": "char_wb", "ngram_range": (3, 3), "sublinear_tf": True},
    {"analyzer": "char_wb", "ngram_range": (1, 7), "norm": None},
    {"analyzer": "word", "token_pattern": r"(?u)\b\w+\b", "ngram_range": (1, 2), "sublinear_tf": True},
    {"analyzer": "word", "ngram_range": (1, 3), "min_df": 2},  # scikit-learn's default: 2+ characters
    {"analyzer": "word", "token_pattern": r"(?u)\b\w+\b", "ngram_range": (2, 3), "norm": None},
]


@pytest.mark.parametrize("params", COVERED_SETTINGS)
def test_settings_it_covers(params):
    vec = TfidfVectorizer(lowercase=False, **params).fit(_random_texts(1, 400))
    assert FastTfidf.supports(vec)
    assert FastTfidf.of(vec) is not None


@pytest.mark.parametrize(
    "params",
    [
        {"analyzer": "char"},  # n-grams across words: not covered
        {"analyzer": "char_wb", "ngram_range": (4, 5)},  # padded words shorter than min_n
        {"analyzer": "char_wb", "ngram_range": (1, 8)},  # too long for one integer key
        {"analyzer": "word", "lowercase": True},
        {"analyzer": "word", "stop_words": ["не"]},
        {"analyzer": "word", "token_pattern": r"(\w)\w+"},  # a capturing group: findall returns the group
        {"analyzer": "word", "token_pattern": r"\S+"},  # tokens that are not runs of word characters
        {"analyzer": "word", "ngram_range": (2, 2), "norm": "l1"},
        {"analyzer": "word", "use_idf": False},
    ],
)
def test_settings_it_does_not_cover_are_refused(params):
    params.setdefault("lowercase", False)
    vec = TfidfVectorizer(**params).fit(_random_texts(1, 100))
    assert not FastTfidf.supports(vec)
    assert FastTfidf.of(vec) is None
    with pytest.raises(ValueError, match="FastTfidf covers"):
        FastTfidf(vec)


def test_an_alphabet_over_255_characters_is_refused():
    texts = [" ".join(chr(0x4E00 + i) for i in range(j, j + 30)) for j in range(0, 300, 10)]
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 2), lowercase=False).fit(texts)
    assert not FastTfidf.supports(vec)
    assert not FastTfidf.supports(TfidfVectorizer())  # not fitted


def test_whitespace_table_covers_all_of_unicode():
    above = [c for c in range(len(_SPACE), sys.maxunicode + 1) if chr(c).isspace()]
    assert above == []
    assert [c for c in range(len(_SPACE)) if _SPACE[c]] == [c for c in range(len(_SPACE)) if chr(c).isspace()]
