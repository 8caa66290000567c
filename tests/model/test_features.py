"""FastTfidf (model/features.py) computes exactly what the fitted TfidfVectorizer computes."""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from model.artifact import load_artifact
from model.features import _SPACE, FastTfidf
from model.normalize import normalize_many

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


def _assert_same(vec: TfidfVectorizer, texts: list[str]) -> None:
    expected = vec.transform(texts)
    got = FastTfidf(vec).transform(texts)
    assert got.shape == expected.shape
    assert (got != expected).nnz == 0  # the same entries, and the same floats
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)


def test_the_artifacts_vectorizers_on_real_text(domain_artifact, test_split):
    pipeline, _ = load_artifact(domain_artifact)
    docs = normalize_many(test_split["text"].tolist())
    vectorizers = dict(pipeline.named_steps["features"].transformer_list)
    assert set(vectorizers) == {"word", "char"}
    for vec in vectorizers.values():
        assert FastTfidf.supports(vec)
        _assert_same(vec, docs)
        np.testing.assert_array_equal(FastTfidf.of(vec).transform(docs[:50]).toarray(), vec.transform(docs[:50]).toarray())
        _assert_same(vec, docs[:1])
        assert FastTfidf(vec).transform([]).shape == (0, len(vec.vocabulary_))  # scikit-learn refuses an empty batch


def test_wide_batches_take_int64_keys_and_agree(domain_artifact, test_split, monkeypatch):
    """A batch whose rows x columns do not fit an int32 key is counted with int64 keys: same matrix."""
    import model.features

    pipeline, _ = load_artifact(domain_artifact)
    docs = normalize_many(test_split["text"].tolist()[:500])
    monkeypatch.setattr(model.features, "_INT32_CELLS", 0)
    for _, vec in pipeline.named_steps["features"].transformer_list:
        _assert_same(vec, docs)  # (scipy itself stores the indices as int32 again when they fit)


# vectorizer settings FastTfidf covers (tests/model/test_kernels.py runs them through the kernels too)
COVERED_SETTINGS = [
    {"analyzer": "char_wb", "ngram_range": (1, 4)},
    {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 2},
    {"analyzer": "char_wb", "ngram_range": (3, 3), "sublinear_tf": True},
    {"analyzer": "char_wb", "ngram_range": (1, 7), "norm": None},
    {"analyzer": "word", "token_pattern": r"(?u)\b\w+\b", "ngram_range": (1, 2), "sublinear_tf": True},
    {"analyzer": "word", "ngram_range": (1, 3), "min_df": 2},
    {"analyzer": "word", "ngram_range": (2, 2), "norm": "l1"},
    {"analyzer": "word", "token_pattern": r"\S+", "ngram_range": (1, 1), "max_features": 20},
]


@pytest.mark.parametrize("params", COVERED_SETTINGS)
def test_adversarial_text_and_vectorizer_settings(params):
    vec = TfidfVectorizer(lowercase=False, **params).fit(_random_texts(1, 400))
    assert FastTfidf.supports(vec)
    _assert_same(vec, _random_texts(2, 300))  # unseen texts: unknown characters and n-grams


@pytest.mark.parametrize(
    "params",
    [
        {"analyzer": "char"},  # n-grams across words: not covered
        {"analyzer": "char_wb", "ngram_range": (4, 5)},  # padded words shorter than min_n
        {"analyzer": "char_wb", "ngram_range": (1, 8)},  # too long for one integer key
        {"analyzer": "word", "lowercase": True},
        {"analyzer": "word", "stop_words": ["не"]},
        {"analyzer": "word", "token_pattern": r"(\w)\w+"},  # a capturing group changes what findall returns
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
