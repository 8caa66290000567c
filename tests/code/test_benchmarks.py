"""The benchmark's scoring and its reading of BANKING77-OOS (the figures in the README come from them)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.model_bench import banking77_oos, scores
from tests.conftest import SHARED


def test_scores_give_the_out_of_scope_recall_of_each_part():
    y = np.array(["a", "b", "oos", "oos", "oos", "oos"])
    pred = np.array(["a", "oos", "oos", "a", "oos", "oos"])
    part = np.array(["in", "in", "id_oos", "id_oos", "ood_oos", "ood_oos"])
    out = scores(y, pred, "oos", part)
    assert out["accuracy"] == round(4 / 6, 4)
    assert out["in_scope_accuracy"] == 0.5
    assert out["oos_recall"] == 0.75
    assert out["id_oos_recall"] == 0.5
    assert out["ood_oos_recall"] == 1.0
    assert "in_recall" not in out
    assert set(scores(y, pred, "oos")) == {"accuracy", "in_scope_accuracy", "oos_recall"}


def test_banking77_oos_keeps_its_parts_apart():
    if not (SHARED / "benchmarks" / "banking77_oos").exists():
        pytest.skip("../shared/benchmarks is not beside this checkout")
    train, val = banking77_oos(SHARED / "benchmarks")
    # row counts of the shared folder's README
    assert train["part"].value_counts().to_dict() == {"in": 5903, "id_oos": 2054}
    assert val["part"].value_counts().to_dict() == {"in": 1506, "id_oos": 528, "ood_oos": 200}
    assert set(train.loc[train["part"] == "id_oos", "label"]) == {"oos"}
    assert set(val.loc[val["part"] != "in", "label"]) == {"oos"}
    assert train.loc[train["part"] == "in", "label"].nunique() == 50
    assert len(set(train["text"]) & set(val["text"])) <= 5  # the source repeats a handful of texts (its README)
