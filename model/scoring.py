"""Probabilities from the fitted pipeline, fast for one question as for many.

The training pipeline is ``normalize -> [NameMarker] -> FeatureUnion(TfidfVectorizer, ..., [PieceEmbedding]) ->
CalibratedClassifierCV``
(a frozen ``LinearSVC`` with temperature scaling). Calling ``predict_proba`` on it for one question
costs far more than the arithmetic: sparse-matrix set-up in every vectorizer and, above all,
``decision_function`` multiplying a 1-row sparse matrix by the transposed dense ``coef_``, which
scipy copies on each call. ``LinearScorer`` keeps the library's own pieces (each vectorizer's
``build_analyzer()``, its ``vocabulary_`` and ``idf_``, the calibrator's fitted temperature) and does only the
per-row arithmetic, against a copy of ``coef_`` laid out once per load as (features x classes).

When every block's vectorizer has a compiled kernel (``model/kernels.py``; the training pipeline's
always do), texts are scored in slices of ``BLOCK_ROWS``: each slice is normalised, then each block's
kernel counts its n-grams and multiplies their TF-IDF into the weights in one pass, one question as a
batch of millions. The kernels release the GIL, so a batch's slices run on ``threads`` threads
(default: every core, up to 4; the scores do not depend on it, bit for bit). Otherwise a question (under
``BATCH_ROWS`` texts) costs a dictionary look-up per n-gram and a gather of the matching weight rows
(the row path, which ``explain`` uses too), and a batch the sparse matrix and scipy's product.

The word-piece vector block (``model/pieces.py``), when a model has one, has its own kernel: it adds
each piece's vector times the block's weights (a pieces x classes table made at load), over the
length of the text's sum of vectors.

It reproduces ``pipeline.predict_proba`` to float precision; ``tests/model`` checks that on real
data. Pipelines of another shape fall back to ``PipelineScorer`` (plain ``predict_proba``).

A ``Cascade`` artifact holds two fitted pipelines: the fast TF-IDF one answers when its confidence
reaches the cascade threshold, and the slower, more accurate one (with the sentence encoder) answers
the rest. ``CascadeScorer`` scores every text with the fast model and only the unsure ones again.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from model.features import FastTfidf
from model.names import NameMarker
from model.normalize import normalize, normalize_many
from model.pieces import PieceEmbedding

BATCH_ROWS = 8  # without kernels for every block: from this many texts on, the sparse product instead of row by row
BLOCK_ROWS = 1024  # rows scored at once: a slice of the batch (bounds the temporary memory; the unit of threads)


MAX_THREADS = 4  # the default's cap: normalize and the decisions hold the GIL, so more threads add memory, not speed


def default_threads() -> int:
    """The cores this process may run on, at most ``MAX_THREADS`` (a container's CPU quota is not seen
    here: a large machine's count would mean many idle threads, each call with its work arrays)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    """A shared pool of ``threads`` threads, one per process (a forked child gets its own)."""
    key = (os.getpid(), threads)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = ThreadPoolExecutor(threads, thread_name_prefix="qrouter-score")
        return pool


def temperature(calibrated: CalibratedClassifierCV) -> float:
    """The inverse temperature ``beta_`` a single temperature-scaling calibrator fitted."""
    (cc,) = calibrated.calibrated_classifiers_
    return float(cc.calibrators[0].beta_)


def temperature_softmax(scores: np.ndarray, beta: float, overwrite: bool = False) -> np.ndarray:
    """softmax(beta * logits): what ``_TemperatureScaling.predict`` computes for ``decision_function``
    scores, without its ~0.3 ms of input checks per call (the same operations as ``scipy.special.softmax``,
    without its ~15 µs of array-API dispatch per call). ``overwrite``: ``scores`` (float64) may hold the
    answer, which saves a batch's temporary arrays."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.shape[1] == 1:  # binary decision function -> two-class logits (-x, x), as sklearn does
        scores, overwrite = np.hstack([-scores, scores]), True
    z = np.multiply(scores, beta, out=scores if overwrite else None)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class PipelineScorer:
    """Any fitted pipeline with ``predict_proba``; no explanation support."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.classes = np.asarray(pipeline.classes_)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.pipeline.predict_proba(list(texts))

    def explain(self, text: str, class_index: int, top: int = 10) -> list[dict]:
        return []


@dataclass(frozen=True)
class _Block:
    analyzer: object
    vocabulary: dict
    idf: np.ndarray
    sublinear: bool
    offset: int
    weight: float
    vectorizer: TfidfVectorizer
    fast: FastTfidf | None  # the compiled kernels' view of the vectorizer, when they cover it
    weights: np.ndarray  # this block's rows of the classifier's (features x classes) weights (a view)

    def add_scores(self, docs: list[str], out: np.ndarray) -> None:
        """``out += weight * (tfidf(docs) @ weights)``: the compiled kernels, or the sparse product."""
        if self.fast is not None:
            self.fast.add_scores(docs, self.weights, self.weight, out)
            return
        scores = np.asarray(self.vectorizer.transform(docs) @ self.weights)
        if self.weight != 1.0:
            scores *= self.weight
        out += scores

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The (prepared) text's non-zero features: their columns in the whole feature space (this block's
        n-grams in its vocabulary) and values, ``weight`` included (one text: the row path)."""
        pairs = [(self.vocabulary[g], c) for g, c in Counter(self.analyzer(text)).items() if g in self.vocabulary]
        pairs = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        idx, v = pairs[:, 0], pairs[:, 1].astype(np.float64)
        if not len(idx):
            return idx, v
        if self.sublinear:
            v = np.log(v) + 1.0
        v *= self.idf[idx]
        v *= self.weight / np.sqrt(v @ v)
        return idx + self.offset, v


class _PieceBlock:
    """The word-piece vector block (``model/pieces.py``): dense, scored by its own kernel against the
    pieces' vectors times the classifier's weights (``projected``, pieces x classes, made once per load)."""

    fast = True

    def __init__(self, embedding: PieceEmbedding, offset: int, weight: float, weights: np.ndarray):
        self.embedding = embedding
        self.offset = offset
        self.weight = weight  # the FeatureUnion's weight of the block (the embedding's own is its ``weight``)
        self.weights = weights  # this block's rows of the classifier's (features x classes) weights (a view)
        self.projected = embedding.projection(weights)

    @property
    def vectorizer(self) -> PieceEmbedding:
        return self.embedding

    def add_scores(self, docs: list[str], out: np.ndarray) -> None:
        self.embedding.add_scores(docs, self.projected, self.weight, out)

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        v = self.embedding.embed([text])[0] * self.weight
        idx = np.flatnonzero(v)
        return idx + self.offset, v[idx]


class LinearScorer:
    """Row-wise TF-IDF features and linear scores from a fitted pipeline of the training shape."""

    def __init__(self, pipeline: Pipeline, threads: int | None = None):
        self.threads = threads or default_threads()  # threads that score a batch's slices (their kernels release the GIL)
        # the steps between normalize and the features (supports: none, or the name markers)
        self.markers: tuple[NameMarker, ...] = tuple(step for _, step in pipeline.steps[1:-2])
        features: FeatureUnion = pipeline.named_steps["features"]
        calibrated: CalibratedClassifierCV = pipeline.named_steps["clf"]
        (cc,) = calibrated.calibrated_classifiers_
        svc = cc.estimator.estimator if isinstance(cc.estimator, FrozenEstimator) else cc.estimator
        weights = features.transformer_weights or {}
        self.weights_by_feature = np.ascontiguousarray(svc.coef_.T, dtype=np.float64)  # (features, classes or 1)
        blocks: list[_Block | _PieceBlock] = []
        offset = 0
        for name, vec in features.transformer_list:
            weight = float(weights.get(name, 1.0))
            if isinstance(vec, PieceEmbedding):
                size = vec.vectors_.shape[1]
                blocks.append(_PieceBlock(vec, offset, weight, self.weights_by_feature[offset : offset + size]))
                offset += size
                continue
            size = len(vec.vocabulary_)
            blocks.append(
                _Block(
                    analyzer=vec.build_analyzer(),
                    vocabulary=vec.vocabulary_,
                    idf=np.asarray(vec.idf_, dtype=np.float64),
                    sublinear=vec.sublinear_tf,
                    offset=offset,
                    weight=weight,
                    vectorizer=vec,
                    fast=FastTfidf.of(vec),
                    weights=self.weights_by_feature[offset : offset + size],
                )
            )
            offset += size
        self.blocks = tuple(blocks)
        self.compiled = all(b.fast is not None for b in self.blocks)  # kernels for any number of texts
        self.intercept = np.asarray(svc.intercept_, dtype=np.float64)
        self.beta = temperature(calibrated)
        self.classes = np.asarray(calibrated.classes_)
        self._feature_names: np.ndarray | None = None

    @staticmethod
    def supports(pipeline) -> bool:
        steps = getattr(pipeline, "named_steps", {})
        feats, clf = steps.get("features"), steps.get("clf")
        if not (isinstance(feats, FeatureUnion) and isinstance(clf, CalibratedClassifierCV)):
            return False
        if clf.method != "temperature" or len(getattr(clf, "calibrated_classifiers_", ())) != 1:
            return False
        est = clf.calibrated_classifiers_[0].estimator
        est = est.estimator if isinstance(est, FrozenEstimator) else est
        vecs_ok = all(
            isinstance(v, PieceEmbedding) or (isinstance(v, TfidfVectorizer) and v.norm == "l2" and v.use_idf and not v.lowercase)
            for _, v in feats.transformer_list
        )
        first_func = getattr(pipeline.steps[0][1], "func", None)
        between = [step for _, step in pipeline.steps[1:-2]]
        return (
            vecs_ok
            and isinstance(est, LinearSVC)
            and getattr(first_func, "__name__", None) == "normalize_many"
            and pipeline.steps[-2][0] == "features"
            and all(isinstance(step, NameMarker) for step in between)
        )

    def _prepare(self, texts: Sequence[str]) -> list[str]:
        """What the vectorizers read: the texts normalised, then marked."""
        docs = normalize_many(texts)
        for marker in self.markers:
            docs = marker.mark_docs(docs)
        return docs

    def _row(self, text: str, dense: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """One text's non-zero features and values; ``dense``: with the word-piece block's."""
        norm = normalize(text)
        for marker in self.markers:
            norm = marker.mark(norm)
        cols, vals = [], []
        for b in self.blocks:
            if isinstance(b, _PieceBlock) and not dense:
                continue
            idx, v = b.row(norm)
            cols.append(idx)
            vals.append(v)
        if not cols:
            return np.empty(0, dtype=np.int64), np.empty(0)
        return np.concatenate(cols), np.concatenate(vals)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        if self.compiled or len(texts) >= BATCH_ROWS:  # slices: the kernels, or the sparse product
            out = np.zeros((len(texts), self.weights_by_feature.shape[1]))

            def score(i: int) -> None:  # one slice, into its own rows of ``out``
                docs = self._prepare(texts[i : i + BLOCK_ROWS])
                for b in self.blocks:
                    b.add_scores(docs, out[i : i + len(docs)])

            slices = range(0, len(texts), BLOCK_ROWS)
            if self.threads > 1 and len(slices) > 1:
                list(_pool(self.threads).map(score, slices))  # list(): re-raises a slice's error
            else:
                for i in slices:
                    score(i)
            out += self.intercept
            return out
        w = self.weights_by_feature
        out = np.empty((len(texts), w.shape[1]))
        for i, text in enumerate(texts):
            cols, vals = self._row(text)
            out[i] = vals @ w[cols]
        out += self.intercept
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return temperature_softmax(self.decision_function(texts), self.beta, overwrite=True)

    def feature_names(self) -> np.ndarray:
        if self._feature_names is None:
            self._feature_names = np.concatenate([b.vectorizer.get_feature_names_out() for b in self.blocks])
        return self._feature_names

    def explain(self, text: str, class_index: int, top: int = 10) -> list[dict]:
        """The n-grams that pushed ``text`` towards class ``class_index`` most, with their weights (the
        word-piece vector block's dimensions name no n-gram and are left out)."""
        cols, vals = self._row(text, dense=False)
        if not len(cols):
            return []
        w = self.weights_by_feature
        if w.shape[1] == 1:  # binary: the single column scores class 1 against class 0
            contrib = vals * w[cols, 0] * (1 if class_index == 1 else -1)
        else:
            contrib = vals * w[cols, class_index]
        order = np.argsort(-contrib)[:top]
        names = self.feature_names()
        return [{"ngram": str(names[cols[i]]), "weight": round(float(contrib[i]), 5)} for i in order if contrib[i] > 0]


def escalated(proba: np.ndarray, threshold: float) -> np.ndarray:
    """Which rows of the fast model's probabilities a cascade hands to its full model."""
    return proba.max(1) < threshold


def cascade_proba(fast, full, threshold: float, texts: Sequence[str]) -> np.ndarray:
    """``fast``'s probabilities, with ``full``'s for the texts it is unsure of (only those are scored
    again). ``fast`` and ``full`` are anything with ``predict_proba``: pipelines or scorers."""
    proba = np.asarray(fast.predict_proba(texts), dtype=np.float64)  # a fresh array from every predict_proba
    rows = np.flatnonzero(escalated(proba, threshold))
    if len(rows):
        proba[rows] = full.predict_proba([texts[i] for i in rows])
    return proba


@dataclass
class Cascade:
    """What a cascade artifact pickles: ``fast`` answers a text when its top probability is at least
    ``threshold``; ``full`` answers the others. Both are fitted pipelines over the same labels."""

    fast: Pipeline
    full: Pipeline
    threshold: float

    @property
    def classes_(self) -> np.ndarray:
        return self.fast.classes_

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return cascade_proba(self.fast, self.full, self.threshold, list(texts))


class CascadeScorer:
    """Scores with the fast model's scorer, then re-scores with the full model's the texts it is unsure of."""

    def __init__(self, cascade: Cascade, threads: int | None = None):
        self.pipeline = cascade
        self.fast = make_scorer(cascade.fast, threads)
        self.full = make_scorer(cascade.full, threads)
        self.threshold = float(cascade.threshold)
        self.classes = np.asarray(self.fast.classes)
        if not np.array_equal(self.classes, np.asarray(self.full.classes)):
            raise ValueError("the cascade's two models have different classes")

    def escalated(self, proba: np.ndarray) -> np.ndarray:
        """Which rows of the fast model's probabilities go to the full model."""
        return escalated(proba, self.threshold)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return cascade_proba(self.fast, self.full, self.threshold, texts)

    def explain(self, text: str, class_index: int, top: int = 10) -> list[dict]:
        """The fast model's n-grams when it answered; none when the full model did."""
        if self.escalated(self.fast.predict_proba([text]))[0]:
            return []
        return self.fast.explain(text, class_index, top)


def make_scorer(pipeline, threads: int | None = None) -> LinearScorer | PipelineScorer | CascadeScorer:
    """The scorer of a fitted pipeline; ``threads``: for a batch's slices (default: ``default_threads()``)."""
    if isinstance(pipeline, Cascade):
        return CascadeScorer(pipeline, threads)
    return LinearScorer(pipeline, threads) if LinearScorer.supports(pipeline) else PipelineScorer(pipeline)
