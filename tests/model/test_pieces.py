"""The word-piece vector block (model/pieces.py): the compiled cut and sum against the rule in plain
Python, a well-behaved scikit-learn transformer, the trainer's choice of its weight, and the scorer
with the block (equal to scikit-learn's predict_proba, one question as a batch)."""

from __future__ import annotations

import re

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.model_selection import cross_val_predict
from sklearn.svm import LinearSVC
from sklearn.utils.estimator_checks import (
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
    parametrize_with_checks,
)

import model.pieces
from model.artifact import load_artifact
from model.normalize import normalize_many
from model.pieces import START, PieceEmbedding, PiecesUnavailable, read_source
from model.router import Router
from model.scoring import LinearScorer
from training.train import TrainParams, choose_weight, stack, train_to_dir

EDGE = [
    "",
    "!!!",
    "a",
    "_",
    "123 4567",
    "x" * 300,
    "supercalifragilisticexpialidocious",
    "kartaкарта mixed",
    "e\u0301clair cafe\u0301",  # combining marks are word characters
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 letters",
    "👍 thanks 👍",
    f"{START}card {START}{START}",
    "tab\tand\nnewline",
    "не пришли деньги на ківі гаманець",
]


@pytest.fixture(scope="module")
def pieces() -> PieceEmbedding:
    return PieceEmbedding().fit()


def cut(word: str, index: dict[str, int], longest: int) -> list[str]:
    """The rule, in plain Python: ``▁`` + the word, cut from left to right into the longest pieces;
    a character no piece starts with is skipped."""
    text, p, out = START + word, 0, []
    while p < len(text):
        for e in range(min(len(text), p + longest), p, -1):
            if text[p:e] in index:
                out.append(text[p:e])
                p = e
                break
        else:
            p += 1
    return out


def reference(docs: list[str], weight: float = 1.0) -> np.ndarray:
    names, vectors, _ = read_source()
    index = {p: i for i, p in enumerate(names)}
    longest = max(map(len, names))
    cache: dict[str, np.ndarray] = {}
    out = np.zeros((len(docs), vectors.shape[1]))
    for d, doc in enumerate(docs):
        for word in re.findall(r"\w+", doc):
            if word not in cache:
                v = np.zeros(vectors.shape[1])
                for piece in cut(word, index, longest):
                    v += vectors[index[piece]].astype(np.float32)
                cache[word] = v
            out[d] += cache[word]
        norm = np.linalg.norm(out[d])
        if norm:
            out[d] *= weight / norm
    return out


@parametrize_with_checks([PieceEmbedding()])
def test_sklearn_estimator_rules(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "check", [check_no_attributes_set_in_init, check_get_params_invariance, check_set_params, check_estimator_repr]
)
def test_sklearn_api_rules_that_do_not_need_numeric_input(check):
    check("PieceEmbedding", PieceEmbedding(weight=0.5))


def test_pieces_are_words_of_the_vocabulary(pieces):
    names, vectors, version = read_source()
    assert len(names) == len(vectors) == pieces.source_["pieces"] > 25_000 and vectors.dtype == np.float16
    assert version and pieces.source_["version"] == version
    assert all(re.fullmatch(r"\w+", p.removeprefix(START)) for p in names)
    index = {p: i for i, p in enumerate(names)}
    longest = max(map(len, names))
    assert cut("card", index, longest) == [f"{START}card"]
    assert cut("перевела", index, longest) == [f"{START}пере", "ве", "ла"]  # what the tokenizer cuts too
    assert cut("topup", index, longest) == [f"{START}top", "up"]
    np.testing.assert_allclose(vectors.astype(np.float64).mean(0), 0, atol=1e-3)  # centred


def test_kernel_equals_the_rule_on_every_message_and_edge_cases(pieces, questions):
    docs = normalize_many(questions["text"].tolist()) + EDGE
    np.testing.assert_allclose(pieces.transform(docs), reference(docs), rtol=0, atol=1e-12)


def test_rows_are_unit_length_times_weight():
    block = PieceEmbedding(weight=1.5).fit().transform(["my card was declined", "!!!", ""])
    np.testing.assert_allclose(np.linalg.norm(block, axis=1), [1.5, 0, 0], atol=1e-12)
    assert block.shape == (3, read_source()[1].shape[1])


def test_unseen_words_still_have_meaning(pieces):
    """The point of the block: a word no training text had still lands near its neighbours."""
    a, b, c = pieces.transform(["my card was declined", "my card got rejected", "what is the weather tomorrow"])
    assert a @ b > a @ c + 0.2


def test_pickle_keeps_the_half_precision_table_only(pieces, tmp_path):
    docs = ["card declined", "перевод не пришел"]
    before = pieces.transform(docs)
    assert "_f32" in pieces.__dict__  # the working copy made by the first use
    joblib.dump(pieces, tmp_path / "p.joblib")
    loaded = joblib.load(tmp_path / "p.joblib")
    assert "_f32" not in loaded.__dict__ and loaded.vectors_.dtype == np.float16
    np.testing.assert_array_equal(loaded.transform(docs), before)


def test_missing_package_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(model.pieces.util, "find_spec", lambda name: None)
    read_source.cache_clear()
    try:
        with pytest.raises(PiecesUnavailable, match="needs the wordllama package: pip install wordllama"):
            PieceEmbedding().fit()
    finally:
        monkeypatch.undo()
        read_source.cache_clear()


def test_weight_is_chosen_on_validation_data():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 30).astype(str)
    noise = sparse.csr_matrix(rng.random((len(y), 40)) * (rng.random((len(y), 40)) < 0.1))
    centres = rng.normal(size=(4, 8))
    signal = centres[y.astype(int)] + rng.normal(scale=0.3, size=(len(y), 8))
    signal /= np.linalg.norm(signal, axis=1, keepdims=True)
    informative = sparse.csr_matrix(np.eye(4)[y.astype(int)])
    svc = LinearSVC(random_state=0)
    cv = pytest.importorskip("sklearn.model_selection").StratifiedKFold(3, shuffle=True, random_state=0)
    # a block that carries the labels beside features that do not: a weight above 0, out of fold
    chosen = choose_weight((0.0, 1.0), svc, noise, signal, y, None, cv)
    assert chosen.weight == 1.0 and chosen.scores[1.0] > chosen.scores[0.0] and chosen.fitted is None
    # its out-of-fold decision scores are cross_val_predict's, which calibrate would otherwise compute again
    again = cross_val_predict(clone(svc), stack(noise, signal, 1.0), y, cv=cv, method="decision_function")
    np.testing.assert_array_equal(chosen.oof_scores, again)
    # a block of noise beside features that carry the labels: none of it
    chosen = choose_weight((0.0, 1.0), svc, informative, rng.normal(size=(len(y), 8)) * 3, y, None, cv)
    assert chosen.weight == 0.0
    # with validation rows: scored there, and the chosen weight's SVM comes back fitted
    val = (noise[:40], signal[:40], y[:40])
    chosen = choose_weight((0.0, 1.0), svc, noise, signal, y, val, None)
    assert chosen.weight == 1.0 and chosen.fitted.coef_.shape == (4, 48) and chosen.oof_scores is None


TRAIN = pd.DataFrame(
    {
        "text": [
            "my card was declined at the shop",
            "card payment rejected",
            "why was my card refused",
            "the terminal declined my card",
            "payment with card failed",
            "card not accepted online",
            "cannot log in to my account",
            "login fails every time",
            "forgot my password",
            "the app will not let me sign in",
            "my login code never came",
            "account locked after wrong password",
            "what is the weather today",
            "tell me a joke",
            "who won the football match",
            "recipe for borscht",
            "play some music",
            "how tall is everest",
        ],
        "label": ["card"] * 6 + ["login"] * 6 + ["oos"] * 6,
    }
)


@pytest.fixture(scope="module")
def pieces_artifact(tmp_path_factory):
    path, manifest = train_to_dir(
        tmp_path_factory.mktemp("pieces") / "a", TRAIN, oos_label="oos", params=TrainParams(folds=3, piece_weights=(1.5,))
    )
    return path, manifest


def test_trained_model_carries_the_block_and_records_it(pieces_artifact):
    path, manifest = pieces_artifact
    pipeline, _ = load_artifact(path)
    blocks = dict(pipeline.named_steps["features"].transformer_list)
    assert isinstance(blocks["pieces"], PieceEmbedding) and blocks["pieces"].weight == 1.5
    assert manifest["pieces"]["weight"] == 1.5 and manifest["pieces"]["package"] == "wordllama"
    assert set(manifest["pieces"]["macro_f1_by_weight"]) == {"1.5"}


def test_scorer_with_the_block_equals_the_library(pieces_artifact, monkeypatch):
    import model.scoring

    path, _ = pieces_artifact
    pipeline, _ = load_artifact(path)
    router = Router.load(path)
    assert isinstance(router.scorer, LinearScorer) and router.scorer.compiled
    texts = TRAIN["text"].tolist() + EDGE + ["my card got rejected", "a joke please"]
    batch = router.predict_proba(texts)
    np.testing.assert_allclose(batch, pipeline.predict_proba(texts), rtol=0, atol=1e-12)
    monkeypatch.setattr(model.scoring, "BLOCK_ROWS", 5)  # several slices
    np.testing.assert_array_equal(router.predict_proba(texts), batch)
    np.testing.assert_array_equal(np.vstack([router.predict_proba([t])[0] for t in texts]), batch)
    scorer = router.scorer  # the row path (explain's) gives the same scores
    rows = np.vstack([vals @ scorer.weights_by_feature[cols] for cols, vals in map(scorer._row, texts)])
    np.testing.assert_allclose(rows + scorer.intercept, scorer.decision_function(texts), rtol=0, atol=1e-12)
    explained = router.scorer.explain("my card was declined", int(np.argmax(batch[0])))
    assert explained and not any(e["ngram"].startswith("piece_vector") for e in explained)


def test_no_block_when_validation_wants_none(domain_artifact):
    """On the Russian and Ukrainian domain data the English-centred vectors lose out of fold: weight 0."""
    pipeline, manifest = load_artifact(domain_artifact)
    assert manifest["pieces"]["weight"] == 0.0 and manifest["pieces"]["macro_f1_by_weight"]["0.0"] > 0.9
    assert [name for name, _ in pipeline.named_steps["features"].transformer_list] == ["word", "char"]
