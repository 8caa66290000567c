"""How to calibrate and tune without ``--val``: a 15 % carve vs out-of-fold scores, by nested CV.

Only the ``train`` split is used. Each outer fold is held out in turn; inside the rest, two
procedures fit, calibrate and tune the reject threshold:

- carve: SVM on 85 %, temperature and threshold on the other 15 % (the first release's procedure);
- oof: what ``training.train.fit`` does now: temperature and threshold on 5-fold out-of-fold scores,
  SVM on all of it.

Both are scored on the held-out outer fold (macro-F1 and cannot-handle F1).

    python -m benchmarks.cv_procedure --data datasets/questions.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from model.routing import load_routing_table
from training.data import load_labelled
from training.train import TrainParams, apply_reject, carve_validation, fit


def cannot_handle_f1(y: np.ndarray, pred: np.ndarray, cannot: set[str]) -> float:
    return f1_score(np.isin(y, list(cannot)), np.isin(pred, list(cannot)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("datasets/questions.csv"))
    ap.add_argument("--outer", type=int, default=5)
    args = ap.parse_args()
    df = load_labelled(args.data, "text", "topic", split="train")
    y = df["label"].to_numpy().astype(str)
    routing = load_routing_table()
    cannot = {t for t in set(y) if not routing.can_handle(t)}
    params, oos = TrainParams(), "out_of_scope"
    rows = []
    outer = StratifiedKFold(args.outer, shuffle=True, random_state=0)
    for k, (a, b) in enumerate(outer.split(df["text"], y)):
        inner, held = df.iloc[a].reset_index(drop=True), df.iloc[b]
        procedures = {
            "carve": carve_validation(inner, 0.15, params.seed),  # fit's held-out path, the 15 % as validation
            "oof": (inner, None),  # what the trainer does without --val
        }
        for name, (train, val) in procedures.items():
            pipeline, manifest = fit(train, val, oos_label=oos, params=params)
            classes = np.asarray(pipeline.classes_).astype(str)
            pred = apply_reject(classes, pipeline.predict_proba(held["text"].tolist()), oos, manifest["thresholds"]["reject"])
            rows.append(
                {
                    "fold": k,
                    "procedure": name,
                    "macro_f1": f1_score(y[b], pred, average="macro"),
                    "cannot_handle_f1": cannot_handle_f1(y[b], pred, cannot),
                }
            )
            print(rows[-1], flush=True)
    res = pd.DataFrame(rows).groupby("procedure")[["macro_f1", "cannot_handle_f1"]].mean().round(4)
    print(res.to_string())


if __name__ == "__main__":
    main()
