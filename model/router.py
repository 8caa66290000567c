"""The one prediction path: text in, routing answer out. Serves the API, batch runs and notebooks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model.artifact import load_artifact
from model.providers import resolve_provider
from model.routing import RoutingTable, load_routing_table
from model.scoring import make_scorer

LOW_CONFIDENCE = "low_confidence"
EMPTY_TEXT = "empty_text"


def top_three(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every row's three most probable classes, best first (ties: the lower class index first, as a
    stable sort would order them), and their probabilities: three ``argmax`` passes (each returns the
    first of tied maxima), the classes found masked out between them."""
    n, classes = proba.shape
    k = min(3, classes)
    rows = np.arange(n)
    top = np.empty((n, k), dtype=np.int64)
    rest = proba.astype(np.float64, copy=True)
    for j in range(k):
        top[:, j] = rest.argmax(axis=1)
        rest[rows, top[:, j]] = -np.inf
    return top, proba[rows[:, None], top]


@dataclass(frozen=True)
class Decisions:
    """``Router.decide``'s answer: one entry per text in every field (lists, and arrays of shape (n, k)).
    ``reason`` holds a code (``low_confidence``, ``empty_text`` or a cannot-handle topic) or None;
    ``cannot_handle`` is ``reason is not None``."""

    topic: list[str | None]
    confidence: list[float]  # rounded to 6 decimals, as in a Route
    top: np.ndarray  # the three most probable classes, best first
    top_p: np.ndarray
    ambiguous: list[bool]
    reason: list[str | None]
    provider: list[str | None]
    provider_source: list[str | None]
    filled: list[bool]  # False: an empty text, not scored

    @property
    def cannot_handle(self) -> list[bool]:
        return [r is not None for r in self.reason]


@dataclass(frozen=True)
class Route:
    topic: str | None
    confidence: float
    alternatives: list[dict[str, Any]]
    ambiguous: bool
    cannot_handle: bool
    reason: dict[str, str] | None
    provider: str | None
    provider_source: str | None
    channels: list[dict[str, Any]]
    model_version: str
    explanation: list[dict[str, Any]] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "explanation"}
        if self.explanation is not None:
            d["explanation"] = self.explanation
        return d

    @property
    def channel(self) -> str | None:
        """The recommended (first) channel's id."""
        return self.channels[0]["id"] if self.channels else None


class Router:
    """A verified model artifact plus a routing table."""

    def __init__(self, pipeline, manifest: dict[str, Any], routing: RoutingTable | None = None, threads: int | None = None):
        self.manifest = manifest
        self.routing = routing or load_routing_table()
        self.scorer = make_scorer(pipeline, threads)
        self.labels = [str(c) for c in self.scorer.classes]
        if self.labels != list(manifest["labels"]):
            raise ValueError("the pipeline's classes differ from the labels in its manifest")
        self.oos_label: str | None = manifest.get("oos_label")
        thresholds = manifest.get("thresholds") or {}
        self.reject_threshold: float | None = thresholds.get("reject") if self.oos_label else None
        self.ambiguity_margin: float = float(thresholds.get("margin") or 0.0)
        self.model_version: str = manifest["model_version"]
        self._channels = {cid: ch.model_dump(exclude_none=True) for cid, ch in self.routing.channels.items()}
        self._channel_lists: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
        self._cannot_handle = np.array([not self.routing.can_handle(t) for t in self.labels], dtype=bool)
        self._label_array = np.array(self.labels, dtype=object)
        self._oos_index = self.labels.index(self.oos_label) if self.reject_threshold is not None else None

    @classmethod
    def load(cls, artifact_dir: str | Path, routing_path: str | Path | None = None, threads: int | None = None) -> Router:
        """Load and verify an artifact (refuses a tampered file or a version mismatch). ``threads`` score a
        batch's slices in parallel (default: the cores this process may use, at most 4)."""
        pipeline, manifest = load_artifact(artifact_dir)
        return cls(pipeline, manifest, load_routing_table(routing_path), threads)

    def channels(self, topic: str, provider: str | None) -> list[dict[str, Any]]:
        """The ordered channels for a topic as plain dicts with full contacts (see RoutingTable.channels_for)."""
        return list(self._channel_list(topic, provider))

    def _channel_list(self, topic: str, provider: str | None) -> list[dict[str, Any]]:
        """``channels`` without the copy (callers must not change it)."""
        key = (topic, provider)
        found = self._channel_lists.get(key)
        if found is None:  # the table is fixed for the router's life: look each (topic, provider) up once
            found = self._channel_lists[key] = [self._channels[c.id] for c in self.routing.channels_for(topic, provider)]
        return found

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.scorer.predict_proba(texts)

    def decide(
        self,
        texts: Sequence[str],
        provider: str | None | Sequence[str | None] = None,
        *,
        default_provider: str | None = None,
    ) -> Decisions:
        """The decisions for every text as columns: what ``route`` answers, without building the answers.
        ``provider`` is one value for all texts or one per text (None = detect)."""
        texts = list(texts)
        providers = list(provider) if isinstance(provider, (list, tuple)) else [provider] * len(texts)
        if len(providers) != len(texts):
            raise ValueError("provider must be one value or one per text")
        filled = np.array([bool(t and t.strip()) for t in texts], dtype=bool)
        rows = np.flatnonzero(filled)
        proba = self.predict_proba([texts[i] for i in rows]) if len(rows) else np.empty((0, len(self.labels)))
        k = min(3, len(self.labels))
        top = np.zeros((len(texts), k), dtype=np.int64)
        top_p = np.zeros((len(texts), k))
        top[rows], top_p[rows] = top_three(proba)
        margin = top_p[:, 0] - top_p[:, 1] if k > 1 else top_p[:, 0]
        labels = self._label_array
        chosen = top[:, 0].copy()  # the answered class: the best one, or the out-of-scope label when rejected
        low = np.zeros(len(texts), dtype=bool)
        if self.reject_threshold is not None:
            low = (labels[chosen] != self.oos_label) & (top_p[:, 0] < self.reject_threshold)
            chosen[low] = self._oos_index
        topic = labels[chosen]
        reason = np.full(len(texts), None, dtype=object)
        reason[low] = LOW_CONFIDENCE
        unroutable = ~low & self._cannot_handle[chosen]
        reason[unroutable] = topic[unroutable]
        topic[~filled] = None
        reason[~filled] = EMPTY_TEXT
        resolved = [resolve_provider(t or "", p) for t, p in zip(texts, providers)]
        if default_provider:
            resolved = [(default_provider, "default") if p is None else (p, s) for p, s in resolved]
        return Decisions(
            topic=topic.tolist(),
            confidence=[round(c, 6) if f else 0.0 for c, f in zip(top_p[:, 0].tolist(), filled.tolist())],
            top=top,
            top_p=top_p,
            ambiguous=(filled & (margin < self.ambiguity_margin)).tolist(),
            reason=reason.tolist(),
            provider=[p for p, _ in resolved],
            provider_source=[s for _, s in resolved],
            filled=filled.tolist(),
        )

    def first_channel(self, topic: str | None, provider: str | None, cannot_handle: bool) -> str | None:
        """The recommended channel's id for one decision (what ``Route.channel`` would say)."""
        if cannot_handle or topic is None:
            return None
        found = self._channel_list(topic, provider)
        return found[0]["id"] if found else None

    def route(
        self,
        texts: Sequence[str],
        provider: str | None | Sequence[str | None] = None,
        *,
        default_provider: str | None = None,
        explain: bool = False,
    ) -> list[Route]:
        """Route each text. ``provider`` is one value for all texts or one per text (None = detect)."""
        texts = list(texts)
        d = self.decide(texts, provider, default_provider=default_provider)
        return [self._answer(d, i, texts[i], explain) for i in range(len(texts))]

    def _answer(self, d: Decisions, i: int, text: str, explain: bool) -> Route:
        code = d.reason[i]
        reason = {"code": code, "message": self.routing.reasons.get(code, code)} if code else None
        if not d.filled[i]:
            return Route(
                topic=None,
                confidence=0.0,
                alternatives=[],
                ambiguous=False,
                cannot_handle=True,
                reason=reason,
                provider=d.provider[i],
                provider_source=d.provider_source[i],
                channels=[],
                model_version=self.model_version,
            )
        top, top_p = d.top[i].tolist(), d.top_p[i].tolist()
        return Route(
            topic=d.topic[i],
            confidence=d.confidence[i],
            alternatives=[{"topic": self.labels[j], "probability": round(q, 6)} for j, q in zip(top, top_p)],
            ambiguous=d.ambiguous[i],
            cannot_handle=code is not None,
            reason=reason,
            provider=d.provider[i],
            provider_source=d.provider_source[i],
            channels=[] if code else self.channels(d.topic[i], d.provider[i]),
            model_version=self.model_version,
            explanation=self.scorer.explain(text, top[0]) if explain else None,
        )
