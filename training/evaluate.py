"""Evaluate a router on labelled data: metrics.json, a Markdown report and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from model.router import Router


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def _prf(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="binary", zero_division=0)
    return {"precision": _r(p), "recall": _r(r), "f1": _r(f), "support": int(y_true.sum())}


# optional columns scored group by group: column -> (metrics key, report heading)
GROUPS = {"lang": ("per_lang", "Per language"), "round": ("per_round", "Per writing round")}


def _group_metrics(g: pd.DataFrame, truth_ch: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1 and (where the group has cannot-handle rows) cannot-handle F1 of one group;
    ``truth_ch`` is the whole frame's "support cannot handle this label", indexed like it."""
    out = {
        "rows": int(len(g)),
        "accuracy": _r(accuracy_score(g["label"], g["pred"])),
        "macro_f1": _r(f1_score(g["label"], g["pred"], labels=sorted(set(g["label"])), average="macro", zero_division=0)),
    }
    truth = truth_ch[g.index]
    if truth.any():
        out["cannot_handle_f1"] = _prf(truth, g["cannot_handle"].to_numpy())["f1"]
    return out


def compute_metrics(
    df: pd.DataFrame, router: Router, routes: list | None = None, bins: int = 10
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Metrics for rows with columns text, label (and optionally lang, round); returns (metrics, predictions)."""
    routes = routes if routes is not None else router.route(df["text"].tolist())
    pred = pd.DataFrame(
        {
            "text": df["text"].to_numpy(),
            "label": df["label"].to_numpy(),
            "pred": [r.topic or "" for r in routes],
            "confidence": [r.confidence for r in routes],
            "cannot_handle": [r.cannot_handle for r in routes],
            "reason": [r.reason["code"] if r.reason else "" for r in routes],
        }
    )
    for col in GROUPS:
        if col in df.columns:
            pred[col] = df[col].to_numpy()
    y, p = pred["label"].to_numpy(), pred["pred"].to_numpy()
    labels = sorted(set(y) | set(p) - {""})
    m: dict[str, Any] = {
        "rows": int(len(df)),
        "model_version": router.model_version,
        "accuracy": _r(accuracy_score(y, p)),
        "macro_f1": _r(f1_score(y, p, labels=sorted(set(y)), average="macro", zero_division=0)),
    }
    prec, rec, f1, sup = precision_recall_fscore_support(y, p, labels=labels, zero_division=0)
    cm = confusion_matrix(y, p, labels=labels)
    per_class = {}
    for i, lab in enumerate(labels):
        off = {labels[j]: int(cm[i, j]) for j in np.argsort(-cm[i]) if j != i and cm[i, j] > 0}
        per_class[lab] = {
            "precision": _r(prec[i]),
            "recall": _r(rec[i]),
            "f1": _r(f1[i]),
            "support": int(sup[i]),
            "confused_with": dict(list(off.items())[:3]),
        }
    m["per_class"] = per_class
    # cannot-handle: the truth is "support cannot handle this topic", the prediction the router's flag
    truth_ch = np.array([not router.routing.can_handle(t) for t in y])
    for col, (key, _) in GROUPS.items():
        if col in pred.columns:
            m[key] = {str(k): _group_metrics(g, truth_ch) for k, g in pred.groupby(col)}
    oos = router.oos_label
    if oos is not None and oos in set(y):
        ins = y != oos
        m["in_scope_accuracy"] = _r((p[ins] == y[ins]).mean()) if ins.any() else None
        m["out_of_scope"] = _prf(y == oos, p == oos)
        m["rejected_low_confidence"] = int((pred["reason"] == "low_confidence").sum())
    if truth_ch.any() and (~truth_ch).any():
        m["cannot_handle"] = _prf(truth_ch, pred["cannot_handle"].to_numpy())
    # calibration: expected calibration error over equal-width confidence bins
    conf, correct = pred["confidence"].to_numpy(), (p == y)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    rel = []
    ece = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            gap = abs(conf[sel].mean() - correct[sel].mean())
            ece += sel.mean() * gap
            rel.append(
                {"bin": b, "confidence": _r(conf[sel].mean()), "accuracy": _r(correct[sel].mean()), "rows": int(sel.sum())}
            )
    m["calibration"] = {"ece": _r(ece), "bins": rel}
    order = np.argsort(-conf, kind="stable")
    cum = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    m["coverage_accuracy"] = [
        {"coverage": c, "accuracy": _r(cum[max(int(round(c * len(order))) - 1, 0)])} for c in (0.5, 0.7, 0.8, 0.9, 0.95, 1.0)
    ]
    m["_labels"] = labels
    m["_confusion"] = cm.tolist()
    return m, pred


def plot_report(m: dict[str, Any], pred: pd.DataFrame, out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    labels, cm = m["_labels"], np.asarray(m["_confusion"])
    n = len(labels)
    if n <= 40:
        fig, ax = plt.subplots(figsize=(max(6, n * 0.6), max(5, n * 0.5)))
        norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(n), labels, fontsize=8)
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title("Confusion matrix (row-normalised colours, counts)")
    else:  # too many classes to label: show the matrix as an image
        fig, ax = plt.subplots(figsize=(8, 7))
        ax.imshow(np.log1p(cm), cmap="Blues")
        ax.set_title(f"Confusion matrix, {n} classes (log counts)")
    fig.tight_layout()
    fig.savefig(out_dir / "confusion_matrix.png", dpi=110)
    plt.close(fig)
    files.append("confusion_matrix.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    bins = m["calibration"]["bins"]
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", label=f"model (ECE {m['calibration']['ece']})")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability diagram")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "reliability.png", dpi=110)
    plt.close(fig)
    files.append("reliability.png")

    conf = pred["confidence"].to_numpy()
    correct = (pred["pred"] == pred["label"]).to_numpy()
    order = np.argsort(-conf, kind="stable")
    cov = np.arange(1, len(order) + 1) / len(order)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(cov, np.cumsum(correct[order]) / np.arange(1, len(order) + 1))
    ax.set_xlabel("coverage (answers kept, most confident first)")
    ax.set_ylabel("accuracy")
    ax.set_title("Coverage vs accuracy")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / "coverage_accuracy.png", dpi=110)
    plt.close(fig)
    files.append("coverage_accuracy.png")

    if "per_lang" in m:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        langs = list(m["per_lang"])
        ax.bar(langs, [m["per_lang"][k]["macro_f1"] for k in langs])
        ax.set_ylim(0, 1)
        ax.set_ylabel("macro-F1")
        ax.set_title("Macro-F1 by language")
        fig.tight_layout()
        fig.savefig(out_dir / "per_language_f1.png", dpi=110)
        plt.close(fig)
        files.append("per_language_f1.png")
    return files


def markdown_report(m: dict[str, Any], plots: list[str]) -> str:
    lines = [f"# Evaluation of model {m['model_version']}", "", f"Rows: {m['rows']}", ""]
    lines += ["| metric | value |", "|---|---|", f"| accuracy | {m['accuracy']} |", f"| macro-F1 | {m['macro_f1']} |"]
    if "in_scope_accuracy" in m:
        o = m["out_of_scope"]
        lines += [
            f"| in-scope accuracy | {m['in_scope_accuracy']} |",
            f"| out-of-scope recall | {o['recall']} |",
            f"| out-of-scope precision | {o['precision']} |",
        ]
    if "cannot_handle" in m:
        c = m["cannot_handle"]
        lines += [f"| cannot-handle F1 (P / R) | {c['f1']} ({c['precision']} / {c['recall']}) |"]
    lines += [f"| expected calibration error | {m['calibration']['ece']} |", ""]
    lines += ["## Per class", "", "| label | precision | recall | F1 | support | confused with |", "|---|---|---|---|---|---|"]
    for lab, c in m["per_class"].items():
        conf = ", ".join(f"{k} ({v})" for k, v in c["confused_with"].items())
        lines.append(f"| {lab} | {c['precision']} | {c['recall']} | {c['f1']} | {c['support']} | {conf} |")
    for col, (key, title) in GROUPS.items():
        if key in m:
            lines += [
                "",
                f"## {title}",
                "",
                f"| {col} | rows | accuracy | macro-F1 | cannot-handle F1 |",
                "|---|---|---|---|---|",
            ]
            for k, c in m[key].items():
                lines.append(f"| {k} | {c['rows']} | {c['accuracy']} | {c['macro_f1']} | {c.get('cannot_handle_f1', '–')} |")
    lines += ["", "## Coverage vs accuracy", "", "| coverage | accuracy |", "|---|---|"]
    lines += [f"| {c['coverage']} | {c['accuracy']} |" for c in m["coverage_accuracy"]]
    lines += [""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def evaluate(df: pd.DataFrame, router: Router, report_dir: str | Path | None = None) -> dict[str, Any]:
    m, pred = compute_metrics(df, router)
    public = {k: v for k, v in m.items() if not k.startswith("_")}
    if report_dir:
        out = Path(report_dir)
        out.mkdir(parents=True, exist_ok=True)
        plots = plot_report(m, pred, out)
        (out / "metrics.json").write_text(json.dumps(public, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (out / "report.md").write_text(markdown_report(public, plots), encoding="utf-8")
        mistakes = pred[pred["pred"] != pred["label"]]
        mistakes.to_csv(out / "mistakes.csv", index=False)
    return public


def compare_models(df: pd.DataFrame, old: Router, new: Router) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two routers on the same labelled rows: (per-label F1 old/new/delta, rows whose answer changed)."""
    m_old, p_old = compute_metrics(df, old)
    m_new, p_new = compute_metrics(df, new)
    labels = sorted(set(m_old["per_class"]) | set(m_new["per_class"]))
    f1 = pd.DataFrame(
        {
            "old_f1": [m_old["per_class"].get(k, {}).get("f1") for k in labels],
            "new_f1": [m_new["per_class"].get(k, {}).get("f1") for k in labels],
        },
        index=pd.Index(labels, name="label"),
    )
    f1["delta"] = (f1["new_f1"] - f1["old_f1"]).round(4)
    changed = p_old["pred"] != p_new["pred"]
    diff = pd.DataFrame(
        {
            "text": p_new["text"],
            "label": p_new["label"],
            "old": p_old["pred"],
            "new": p_new["pred"],
            "old_confidence": p_old["confidence"],
            "new_confidence": p_new["confidence"],
        }
    )[changed].reset_index(drop=True)
    return f1.sort_values("delta"), diff
