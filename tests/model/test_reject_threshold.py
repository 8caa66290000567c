"""The reject threshold is tuned on validation data and must pay for itself (training.train.tune_reject_threshold)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from training.train import apply_reject, tune_reject_threshold


def _brute_force(y, proba, labels, oos, max_drop):
    """The rule written plainly: every candidate threshold scored with scikit-learn."""
    pred0 = labels[proba.argmax(1)]
    conf = proba.max(1)
    ins = y != oos
    base = (pred0[ins] == y[ins]).mean()
    macro0 = f1_score(y, pred0, average="macro", zero_division=0)
    best_t, best_rec = 0.0, (pred0[~ins] == oos).mean()
    for t in np.unique(conf[pred0 != oos]):
        pred = apply_reject(labels, proba, oos, t)
        if (pred[ins] == y[ins]).mean() < base - max_drop:
            break
        rec = (pred[~ins] == oos).mean()
        if rec > best_rec and f1_score(y, pred, average="macro", zero_division=0) >= macro0 - 1e-12:
            best_t, best_rec = float(t), rec
    return best_t, best_rec


def _validation(seed: int, rows: int, classes: int, noise: float):
    rng = np.random.default_rng(seed)
    labels = np.array([f"c{i:02d}" for i in range(classes - 1)] + ["oos"])
    y = labels[rng.integers(0, classes, rows)]
    logits = rng.normal(0, noise, (rows, classes))
    logits[np.arange(rows), [list(labels).index(v) for v in y]] += 2.0  # the true class ahead, not always
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    proba = np.round(proba, 3)  # ties between confidences, as calibrated probabilities rounded in a manifest have
    return y, proba, labels


@pytest.mark.parametrize(
    "seed,rows,classes,noise,max_drop", [(0, 400, 5, 1.5, 0.02), (1, 900, 12, 1.0, 0.005), (2, 300, 3, 2.5, 0.05)]
)
def test_the_fast_rule_equals_the_rule_written_plainly(seed, rows, classes, noise, max_drop):
    y, proba, labels = _validation(seed, rows, classes, noise)
    tuned = tune_reject_threshold(y, proba, labels, "oos", max_drop)
    t, rec = _brute_force(y, proba, labels, "oos", max_drop)
    assert tuned["threshold"] == t
    assert tuned["oos_recall"] == pytest.approx(rec)
    pred = apply_reject(labels, proba, "oos", tuned["threshold"])
    assert tuned["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))


def test_a_label_the_model_cannot_answer_counts_in_macro_f1():
    y, proba, labels = _validation(3, 500, 6, 1.5)
    y[:20] = "unseen"
    t, rec = _brute_force(y, proba, labels, "oos", 0.02)
    tuned = tune_reject_threshold(y, proba, labels, "oos", 0.02)
    assert (tuned["threshold"], tuned["oos_recall"]) == (t, pytest.approx(rec))


def test_rejection_only_where_it_pays():
    labels = np.array(["a", "b", "oos"])
    # out-of-scope questions the classifier answers as a or b, with low confidence; in-scope answers sure
    y = np.array(["a"] * 50 + ["b"] * 50 + ["oos"] * 20)
    proba = np.zeros((120, 3))
    proba[:50] = [0.9, 0.05, 0.05]
    proba[50:100] = [0.05, 0.9, 0.05]
    proba[100:] = [0.5, 0.4, 0.1]
    thin = tune_reject_threshold(y, proba, labels, "oos", 0.005)
    assert thin["threshold"] > 0.5 and thin["oos_recall"] == 1.0

    # the classifier already answers out-of-scope questions; its unsure in-scope answers are right ones
    proba[100:] = [0.05, 0.05, 0.9]
    proba[:5] = [0.5, 0.4, 0.1]
    learnt = tune_reject_threshold(y, proba, labels, "oos", 0.2)  # a budget that would allow rejecting them
    assert learnt["threshold"] == 0.0 and learnt["in_scope_accuracy"] == 1.0
