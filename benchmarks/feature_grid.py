"""Why the default features and C: a few alternatives, scored only on data the test splits never see.

For each setting of ``TrainParams`` in the grid, the trainer's own pipeline (``build_pipeline``) is
scored three ways, with the SVM's plain answers (no calibration, no reject threshold, so that the
settings are compared on the classifier alone):

- domain: 5-fold out-of-fold answers on the ``train`` split of ``datasets/questions.csv`` (macro-F1
  and cannot-handle F1; the test split is not read);
- CLINC150: trained on train, scored on val (in-scope accuracy and out-of-scope recall, ``oos`` as
  the 151st class);
- BANKING77: trained on train less the 15 % carve ``model_bench`` uses, scored on that carve.

    python -m benchmarks.feature_grid --out reports/bench
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from benchmarks.cv_procedure import cannot_handle_f1
from benchmarks.model_bench import SHARED
from model.routing import load_routing_table
from training.data import load_labelled
from training.train import TrainParams, build_pipeline, carve_validation

GRID = {
    "default": {},
    "char 1-5": {"char_ngrams": (1, 5)},
    "char 2-4": {"char_ngrams": (2, 4)},  # no single characters: about a fifth fewer features a text, faster
    "char 2-5": {"char_ngrams": (2, 5)},
    "word 1-3": {"word_ngrams": (1, 3)},
    "C 0.5": {"C": 0.5},
    "C 2": {"C": 2.0},
    "no name markers": {"mark_names": False},  # without model/names.py's marker words
}


def fit_predict(params: TrainParams, train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    normalizer, features, svc = build_pipeline(params)
    x = features.fit_transform(normalizer.transform(train["text"].tolist()))
    svc.fit(x, train["label"].to_numpy())
    return svc.predict(features.transform(normalizer.transform(test["text"].tolist())))


def score(params: TrainParams, data: Path, shared: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    dom = load_labelled(data, "text", "topic", split="train")
    y = dom["label"].to_numpy().astype(str)
    normalizer, features, svc = build_pipeline(params)
    x = features.fit_transform(normalizer.transform(dom["text"].tolist()))
    pred = cross_val_predict(clone(svc), x, y, cv=StratifiedKFold(params.folds, shuffle=True, random_state=params.seed))
    routing = load_routing_table()
    out["domain_macro_f1"] = f1_score(y, pred, average="macro")
    out["domain_cannot_handle_f1"] = cannot_handle_f1(y, pred, {t for t in set(y) if not routing.can_handle(t)})
    out["n_features"] = x.shape[1]
    out["domain_seconds"] = time.perf_counter() - t0

    tr = load_labelled(shared / "clinc150/train.jsonl", "text", "label")
    va = load_labelled(shared / "clinc150/val.jsonl", "text", "label")
    pred, yv = fit_predict(params, tr, va), va["label"].to_numpy()
    ins = yv != "oos"
    out["clinc_in_scope"] = float((pred[ins] == yv[ins]).mean())
    out["clinc_oos_recall"] = float((pred[~ins] == "oos").mean())

    bank = load_labelled(shared / "banking77/train.csv", "text", "label")
    tr, va = carve_validation(bank, 0.15, TrainParams().seed)
    out["banking77"] = accuracy_score(va["label"], fit_predict(params, tr, va))
    return {k: v if isinstance(v, int) else round(float(v), 4 if k != "domain_seconds" else 1) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("datasets/questions.csv"))
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--out", type=Path, default=Path("reports/bench"))
    ap.add_argument("--settings", nargs="+", choices=list(GRID), default=list(GRID), help="only these settings")
    args = ap.parse_args()
    rows = []
    for name, change in [(n, GRID[n]) for n in args.settings]:
        rows.append({"setting": name, **score(replace(TrainParams(), **change), args.data, args.shared)})
        print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "feature_grid.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| " + " | ".join(table.columns) + " |", "|---" * len(table.columns) + "|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in table.itertuples(index=False)]
    (args.out / "feature_grid.md").write_text("\n".join(lines) + "\n")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
