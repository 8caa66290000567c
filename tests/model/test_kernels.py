"""The compiled kernels (model/kernels.py) score what the sparse TF-IDF matrix times the weights scores."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from model.artifact import load_artifact
from model.features import FastTfidf
from model.normalize import normalize_many
from model.router import Router
from tests.model.test_features import COVERED_SETTINGS, _random_texts


def _assert_scores_agree(vec: TfidfVectorizer, texts: list[str], classes: int = 5, scale: float = 0.7) -> None:
    fast = FastTfidf(vec)
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


@pytest.mark.parametrize("params", COVERED_SETTINGS)
def test_kernels_on_adversarial_text_and_settings(params):
    """Unicode whitespace, characters outside any vocabulary (beyond the BMP too), one-letter words,
    digits, punctuation, underscores, words shorter than n, empty texts; every setting FastTfidf covers."""
    vec = TfidfVectorizer(lowercase=False, **params).fit(_random_texts(1, 400))
    _assert_scores_agree(vec, _random_texts(2, 300))


def test_word_tokens_are_the_regex_tokens():
    """The word kernel's tokens (runs of ``re``'s word characters) are the token pattern's, on characters
    that are word characters in some scripts and not in others: combining marks, digits of other
    scripts, superscripts, roman numerals, connector punctuation, mathematical letters beyond the BMP."""
    texts = ["a‿b ١٢٣ x_y ña ñ e\u0301 ǅ ⅷ ²3 ߊ߫ 𝒳y —z ·w", "‿ _ __ ١ ² \u0301"]
    vec = TfidfVectorizer(analyzer="word", token_pattern=r"(?u)\b\w+\b", lowercase=False).fit(texts)
    _assert_scores_agree(vec, texts + ["x_y ña", "e\u0301e\u0301"])
    # scikit-learn's default pattern drops one-character tokens: the words around one make a bigram
    words = ["card a payment", "card x payment 5 card", "я не могу", "a b cd ef g hi", "cd, e ef"]
    default = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), lowercase=False).fit(words)
    assert "card payment" in default.vocabulary_
    _assert_scores_agree(default, words + ["card я payment", "payment card ef", "x"])


def test_threads_give_the_same_scores(domain_artifact, test_split, monkeypatch):
    import model.scoring

    monkeypatch.setattr(model.scoring, "BLOCK_ROWS", 64)  # many slices, a ragged last one
    texts = test_split["text"].tolist()[:1000]
    one, two = (Router.load(domain_artifact, threads=n) for n in (1, 2))
    assert (one.scorer.threads, two.scorer.threads) == (1, 2)
    np.testing.assert_array_equal(two.predict_proba(texts), one.predict_proba(texts))  # bit for bit
    pipeline, _ = load_artifact(domain_artifact)
    np.testing.assert_allclose(two.predict_proba(texts), pipeline.predict_proba(texts), rtol=0, atol=1e-12)


def test_questions_scored_at_once_on_many_threads(router, test_split):
    """The API scores questions on many threads at once: each kernel call takes its own work arrays
    (kept for reuse), so concurrent questions give exactly what they give one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    texts = test_split["text"].tolist()[:400]
    alone = np.vstack([router.predict_proba([t]) for t in texts])
    with ThreadPoolExecutor(8) as pool:
        together = np.vstack(list(pool.map(lambda t: router.predict_proba([t]), texts)))
    np.testing.assert_array_equal(together, alone)


def test_default_threads_are_the_usable_cores_capped(monkeypatch):
    import model.scoring as scoring

    monkeypatch.setattr(scoring.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert scoring.default_threads() == scoring.MAX_THREADS
    monkeypatch.setattr(scoring.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert scoring.default_threads() == 1
