"""Artifacts (verification, tampering, versions), training inputs, rejection and the fast scorer."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from model.artifact import MANIFEST, PIPELINE, ArtifactError, load_artifact, verify_artifact
from model.router import Router
from model.scoring import LinearScorer, PipelineScorer
from training.data import DataError, load_labelled
from training.train import TrainParams, fit, train_to_dir

TINY = pd.DataFrame(
    {
        "text": [
            "card blocked",
            "my card is blocked",
            "card pin forgotten",
            "new card please",
            "card declined at shop",
            "card expired",
            "cant log in",
            "password wrong",
            "login code missing",
            "account locked",
            "forgot my login",
            "sign in fails",
            "weather today",
            "recipe for soup",
            "who won the match",
            "tell me a joke",
            "best movie ever",
            "hello bot",
        ],
        "label": ["card"] * 6 + ["login"] * 6 + ["oos"] * 6,
    }
)


@pytest.fixture
def artifact_copy(tmp_path, domain_artifact):
    dst = tmp_path / "art"
    shutil.copytree(domain_artifact, dst)
    return dst


def test_manifest_records_what_issue_4_asks(domain_artifact):
    m = json.loads((domain_artifact / MANIFEST).read_text())
    assert len(m["labels"]) == 11 and m["oos_label"] == "out_of_scope"
    assert 0 < m["thresholds"]["reject"] < 1 and m["thresholds"]["margin"] >= 0
    assert {"python", "scikit-learn"} <= set(m["versions"])
    assert len(m["data"]["train_sha256"]) == 64 and m["data"]["validation"]["rows"] > 0
    assert m["metrics"]["validation"]["macro_f1"] > 0.8
    assert m["created_at"].endswith("Z") and m["files"][PIPELINE] and m["model_version"]


def test_tampered_pipeline_is_refused_before_unpickling(artifact_copy, monkeypatch):
    import joblib

    (artifact_copy / PIPELINE).write_bytes(b"not a pickle")
    called = []
    monkeypatch.setattr(joblib, "load", lambda *a, **k: called.append(1))
    with pytest.raises(ArtifactError, match="does not match its sha256"):
        load_artifact(artifact_copy)
    assert not called


def test_version_mismatch_is_one_clear_sentence(artifact_copy):
    m = json.loads((artifact_copy / MANIFEST).read_text())
    m["versions"]["scikit-learn"] = "0.24.2"
    (artifact_copy / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ArtifactError) as e:
        verify_artifact(artifact_copy)
    assert "built with scikit-learn 0.24.2" in str(e.value) and "\n" not in str(e.value)


def test_missing_and_broken_artifacts(tmp_path, artifact_copy):
    with pytest.raises(ArtifactError, match="does not exist"):
        verify_artifact(tmp_path / "nothing")
    (artifact_copy / MANIFEST).write_text("{broken")
    with pytest.raises(ArtifactError, match="not JSON"):
        verify_artifact(artifact_copy)


def test_manifest_file_outside_artifact_is_refused(artifact_copy):
    m = json.loads((artifact_copy / MANIFEST).read_text())
    m["files"]["../../etc/passwd"] = "0" * 64
    (artifact_copy / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match="outside the artifact"):
        verify_artifact(artifact_copy)


def test_fast_scorer_equals_library_predict_proba(router, domain_artifact, test_split):
    pipeline, _ = load_artifact(domain_artifact)
    assert isinstance(router.scorer, LinearScorer)
    texts = test_split["text"].tolist()[:400] + ["", "!!!", "a"]
    np.testing.assert_allclose(router.predict_proba(texts), pipeline.predict_proba(texts), rtol=0, atol=1e-12)


def test_training_is_deterministic_for_a_seed(tmp_path):
    p1, m1 = fit(TINY, oos_label="oos", params=TrainParams(folds=3, seed=3))
    p2, m2 = fit(TINY, oos_label="oos", params=TrainParams(folds=3, seed=3))
    texts = ["card stuck", "password", "sunny day"]
    np.testing.assert_array_equal(p1.predict_proba(texts), p2.predict_proba(texts))
    assert m1["thresholds"] == m2["thresholds"] and m1["data"] == m2["data"]


def test_rejection_only_with_an_oos_label(tmp_path):
    _, with_oos = fit(TINY, oos_label="oos", params=TrainParams(folds=3))
    assert with_oos["oos_label"] == "oos" and with_oos["thresholds"]["reject"] is not None
    no_oos = TINY[TINY["label"] != "oos"].reset_index(drop=True)
    path, m = train_to_dir(tmp_path / "a", no_oos, oos_label="oos", params=TrainParams(folds=3))
    assert m["oos_label"] is None and m["thresholds"]["reject"] is None
    r = Router.load(path)
    routes = r.route(["qwerty zzz", "card"])
    assert all(x.reason is None or x.reason["code"] != "low_confidence" for x in routes)
    assert {x.topic for x in routes} <= {"card", "login"}


def test_low_confidence_becomes_oos_label(tmp_path, domain_artifact):
    r = Router.load(domain_artifact)
    r.reject_threshold = 0.999999  # everything below becomes out_of_scope with reason low_confidence
    (route,) = r.route(["не знаю что написать про деньги и карту и вход"])
    assert route.topic == "out_of_scope" and route.reason["code"] == "low_confidence" and route.cannot_handle
    assert route.channels == []


def test_router_works_for_any_label_set_and_binary(tmp_path):
    path, _ = train_to_dir(
        tmp_path / "b", TINY[TINY["label"] != "card"].reset_index(drop=True), oos_label="oos", params=TrainParams(folds=3)
    )
    r = Router.load(path)
    (route,) = r.route(["i forgot my password"], provider="qiwi")
    assert route.topic == "login" and route.channels[0]["id"] == "qiwi_hotline"
    assert route.explanation is None
    (foreign,) = Router.load(
        train_to_dir(tmp_path / "c", TINY.replace({"card": "pin_change"}), oos_label=None, params=TrainParams(folds=3))[0]
    ).route(["card pin"])
    assert foreign.topic == "pin_change" and foreign.channels == [] and not foreign.cannot_handle


def test_pipeline_scorer_fallback_for_other_classifiers():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(TINY["text"], TINY["label"])
    manifest = {
        "labels": list(pipe.classes_),
        "oos_label": "oos",
        "thresholds": {"reject": 0.0, "margin": 0.0},
        "model_version": "t",
    }
    r = Router(pipe, manifest)
    assert isinstance(r.scorer, PipelineScorer)
    assert r.route(["card blocked"])[0].topic == "card"


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"message": ["a"], "topic": ["x"]}), "no column 'text'; columns are message, topic"),
        (pd.DataFrame({"text": ["a", "b"], "topic": ["x", ""]}), "1 rows have an empty label"),
        (pd.DataFrame({"text": ["a", " "], "topic": ["x", "y"]}), "1 rows have an empty text"),
    ],
)
def test_bad_training_files(tmp_path, frame, message):
    p = tmp_path / "d.csv"
    frame.to_csv(p, index=False)
    with pytest.raises(DataError, match=message):
        load_labelled(p)


def test_single_class_and_unstratifiable(tmp_path):
    with pytest.raises(DataError, match="single class"):
        fit(pd.DataFrame({"text": ["a", "b"], "label": ["x", "x"]}))
    with pytest.raises(DataError, match="at least 2 rows of every label; too few for: y"):
        fit(pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x", "x", "x", "y"]}))


def test_jsonl_with_other_column_names(tmp_path):
    p = tmp_path / "d.jsonl"
    TINY.rename(columns={"text": "utterance", "label": "intent"}).to_json(p, orient="records", lines=True)
    df = load_labelled(p, "utterance", "intent")
    assert list(df.columns[:2]) == ["text", "label"] and len(df) == len(TINY)


def test_batch_and_single_paths_agree(router, test_split, monkeypatch):
    import dataclasses

    import model.scoring

    monkeypatch.setattr(model.scoring, "BLOCK_ROWS", 7)  # several slices, a ragged last one
    assert router.scorer.compiled  # every block has a kernel: one question and a batch take it alike
    texts = test_split["text"].tolist()[:200]
    batch = router.predict_proba(texts)
    single = [router.predict_proba([t])[0] for t in texts]
    np.testing.assert_array_equal(batch, np.vstack(single))  # row for row, the same arithmetic
    # vectorizers without a kernel: the row path for one question (explain's too) and scikit-learn's
    # transform with scipy's product for a batch, the same probabilities to float rounding
    monkeypatch.setattr(router.scorer, "compiled", False)
    monkeypatch.setattr(router.scorer, "blocks", tuple(dataclasses.replace(b, fast=None) for b in router.scorer.blocks))
    rows = [router.predict_proba([t])[0] for t in texts]
    np.testing.assert_allclose(np.vstack(rows), batch, rtol=0, atol=1e-12)
    np.testing.assert_allclose(router.predict_proba(texts), batch, rtol=0, atol=1e-12)


def test_scorer_shape_check_rejects_other_pipelines():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    assert not LinearScorer.supports(make_pipeline(TfidfVectorizer(), LogisticRegression()))
    assert not LinearScorer.supports(object())


def test_scorer_takes_name_markers_and_no_other_step(domain_artifact):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from model.artifact import load_artifact
    from model.names import NameMarker

    pipeline, _ = load_artifact(domain_artifact)
    names = [name for name, _ in pipeline.steps]
    assert names == ["normalize", "names", "features", "clf"] and isinstance(pipeline.steps[1][1], NameMarker)
    assert LinearScorer.supports(pipeline)
    assert LinearScorer.supports(Pipeline([pipeline.steps[0], *pipeline.steps[2:]]))  # without markers
    other = ("upper", FunctionTransformer(lambda docs: [d.upper() for d in docs]))
    assert not LinearScorer.supports(Pipeline([pipeline.steps[0], other, *pipeline.steps[2:]]))


def test_top_three_equals_a_stable_full_sort_with_ties():
    from model.router import top_three

    rng = np.random.default_rng(0)
    for rows, classes in [(r, c) for r in (0, 10, 300) for c in (1, 2, 3, 4, 11, 151)]:
        proba = rng.random((rows, classes))
        proba[:5] = 0.5  # every class tied
        proba[5:40] = np.round(proba[5:40], 1)  # ties at the third place
        top, top_p = top_three(proba)
        expected = np.argsort(-proba, axis=1, kind="stable")[:, :3]
        np.testing.assert_array_equal(top, expected)
        np.testing.assert_array_equal(top_p, np.take_along_axis(proba, expected, axis=1))


def test_decide_columns_are_the_routes(router, test_split):
    """Router.decide (the batch path) and Router.route (the API path) give the same decisions."""
    texts = test_split["text"].tolist()[:300] + ["", "   ", "qiwi"]
    providers = [None, "webmoney", "qiwi"] * (len(texts) // 3)
    d = router.decide(texts, providers, default_provider="qiwi")
    routes = router.route(texts, providers, default_provider="qiwi")
    assert d.topic == [r.topic for r in routes]
    assert d.confidence == [r.confidence for r in routes]
    assert d.cannot_handle == [r.cannot_handle for r in routes]
    assert d.reason == [r.reason["code"] if r.reason else None for r in routes]
    assert d.provider == [r.provider for r in routes] and d.provider_source == [r.provider_source for r in routes]
    assert [router.first_channel(t, p, c) for t, p, c in zip(d.topic, d.provider, d.cannot_handle)] == [r.channel for r in routes]
    assert d.reason[-3:-1] == ["empty_text", "empty_text"] and len(set(d.cannot_handle)) == 2
