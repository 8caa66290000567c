"""The compiled kernels (model/kernels.py) score what the sparse TF-IDF matrix times the weights scores."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from model.artifact import load_artifact
from model.features import FastTfidf
from model.normalize import normalize_many
from model.router import Router
from tests.model.test_features import _random_texts


def _assert_scores_agree(vec: TfidfVectorizer, texts: list[str], classes: int = 5, scale: float = 0.7) -> None:
    fast = FastTfidf(vec)
    assert fast.compiled
    weights = np.random.default_rng(0).normal(size=(len(vec.vocabulary_), classes))
    expected = scale * (vec.transform(texts) @ weights) + 1.0
    got = np.ones((len(texts), classes))
    fast.add_scores(texts, weights, scale, got)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_kernels_on_the_artifacts_vectorizers_and_real_text(domain_artifact, test_split):
    pipeline, _ = load_artifact(domain_artifact)
    docs = normalize_many(test_split["text"].tolist())
    for _, vec in pipeline.named_steps["features"].transformer_list:
        _assert_scores_agree(vec, docs)
        _assert_scores_agree(vec, docs[:1])


@pytest.mark.parametrize(
    "params",
    [
        {"analyzer": "char_wb", "ngram_range": (1, 4)},
        {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 2},
        {"analyzer": "char_wb", "ngram_range": (3, 3), "sublinear_tf": True},
        {"analyzer": "char_wb", "ngram_range": (1, 7), "norm": None},
        {"analyzer": "word", "token_pattern": r"(?u)\b\w+\b", "ngram_range": (1, 2), "sublinear_tf": True},
        {"analyzer": "word", "ngram_range": (1, 3), "min_df": 2},  # scikit-learn's default: 2+ characters
        {"analyzer": "word", "token_pattern": r"(?u)\b\w+\b", "ngram_range": (2, 3), "norm": None},
    ],
)
def test_kernels_on_adversarial_text_and_settings(params):
    """Unicode whitespace, characters outside any vocabulary (beyond the BMP too), one-letter words,
    digits, punctuation, underscores, words shorter than n, empty texts."""
    vec = TfidfVectorizer(lowercase=False, **params).fit(_random_texts(1, 400))
    _assert_scores_agree(vec, _random_texts(2, 300))


def test_word_tokens_are_the_regex_tokens():
    """The word kernel's tokens (runs of ``re``'s word characters) are the token pattern's, on text whose
    characters are word characters in some scripts and not in others (marks, digits of other scripts,
    connector punctuation): one-word vocabularies find each token exactly when findall does."""
    texts = ["a‿b ١٢٣ x_y ña ñ e\u0301 ǅ ⅷ ²3 ߊ߫ 𝒳y —z ·w", "‿ _ __ ١ ² \u0301"]
    vec = TfidfVectorizer(analyzer="word", token_pattern=r"(?u)\b\w+\b", lowercase=False).fit(texts)
    _assert_scores_agree(vec, texts + ["x_y ña", "e\u0301e\u0301"])
    narrower = FastTfidf(TfidfVectorizer(analyzer="word", token_pattern=r"\S+", lowercase=False).fit(texts))
    assert not narrower.compiled  # another token pattern: the sparse matrix path
    weights = np.ones((len(narrower.counter.token_id), 1))
    out = np.zeros((len(texts), 1))
    narrower.add_scores(texts, weights, 1.0, out)
    np.testing.assert_allclose(out, narrower.transform(texts) @ weights)


def test_threads_give_the_same_scores(domain_artifact, test_split, monkeypatch):
    import model.scoring

    monkeypatch.setattr(model.scoring, "BLOCK_ROWS", 64)  # many slices, a ragged last one
    texts = test_split["text"].tolist()[:1000]
    one, two = (Router.load(domain_artifact, threads=n) for n in (1, 2))
    assert (one.scorer.threads, two.scorer.threads) == (1, 2)
    np.testing.assert_array_equal(two.predict_proba(texts), one.predict_proba(texts))  # bit for bit
    pipeline, _ = load_artifact(domain_artifact)
    np.testing.assert_allclose(two.predict_proba(texts), pipeline.predict_proba(texts), rtol=0, atol=1e-12)
