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

    def __init__(self, pipeline, manifest: dict[str, Any], routing: RoutingTable | None = None):
        self.manifest = manifest
        self.routing = routing or load_routing_table()
        self.scorer = make_scorer(pipeline)
        self.labels = [str(c) for c in self.scorer.classes]
        if self.labels != list(manifest["labels"]):
            raise ValueError("the pipeline's classes differ from the labels in its manifest")
        self.oos_label: str | None = manifest.get("oos_label")
        thresholds = manifest.get("thresholds") or {}
        self.reject_threshold: float | None = thresholds.get("reject") if self.oos_label else None
        self.ambiguity_margin: float = float(thresholds.get("margin") or 0.0)
        self.model_version: str = manifest["model_version"]
        self._channels = {cid: ch.model_dump(exclude_none=True) for cid, ch in self.routing.channels.items()}

    @classmethod
    def load(cls, artifact_dir: str | Path, routing_path: str | Path | None = None) -> Router:
        """Load and verify an artifact (refuses a tampered file or a version mismatch)."""
        pipeline, manifest = load_artifact(artifact_dir)
        return cls(pipeline, manifest, load_routing_table(routing_path))

    def channels(self, topic: str, provider: str | None) -> list[dict[str, Any]]:
        """The ordered channels for a topic as plain dicts with full contacts (see RoutingTable.channels_for)."""
        return [self._channels[c.id] for c in self.routing.channels_for(topic, provider)]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.scorer.predict_proba(texts)

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
        providers = list(provider) if isinstance(provider, (list, tuple)) else [provider] * len(texts)
        if len(providers) != len(texts):
            raise ValueError("provider must be one value or one per text")
        filled = [i for i, t in enumerate(texts) if t and t.strip()]
        proba = self.predict_proba([texts[i] for i in filled]) if filled else np.empty((0, len(self.labels)))
        # the top three answers of every row at once; the rows below only read them
        top = np.argsort(-proba, axis=1, kind="stable")[:, :3]
        top_p = np.take_along_axis(proba, top, axis=1)
        margins = (top_p[:, 0] - top_p[:, 1]) if top.shape[1] > 1 else top_p[:, 0]
        out: list[Route] = []
        row = dict(zip(filled, range(len(filled))))
        for i, text in enumerate(texts):
            prov, source = resolve_provider(text or "", providers[i])
            if prov is None and default_provider:
                prov, source = default_provider, "default"
            if i not in row:
                out.append(self._empty(prov, source))
            else:
                r = row[i]
                out.append(self._decide(text, top[r].tolist(), top_p[r].tolist(), float(margins[r]), prov, source, explain))
        return out

    def _empty(self, prov: str | None, source: str | None) -> Route:
        return Route(
            topic=None,
            confidence=0.0,
            alternatives=[],
            ambiguous=False,
            cannot_handle=True,
            reason={"code": EMPTY_TEXT, "message": self.routing.reasons[EMPTY_TEXT]},
            provider=prov,
            provider_source=source,
            channels=[],
            model_version=self.model_version,
        )

    def _decide(
        self, text: str, top: list[int], top_p: list[float], margin: float, prov: str | None, source: str | None, explain: bool
    ) -> Route:
        """One answer from the row's top three classes ``top`` (best first), their probabilities and the
        top-two margin."""
        best, confidence = top[0], top_p[0]
        topic = self.labels[best]
        reason_code = None
        if self.reject_threshold is not None and topic != self.oos_label and confidence < self.reject_threshold:
            topic, reason_code = self.oos_label, LOW_CONFIDENCE
        elif not self.routing.can_handle(topic):
            reason_code = topic
        cannot_handle = reason_code is not None
        reason = None
        if cannot_handle:
            reason = {"code": reason_code, "message": self.routing.reasons.get(reason_code, reason_code)}
        channels = [] if cannot_handle else self.channels(topic, prov)
        return Route(
            topic=topic,
            confidence=round(confidence, 6),
            alternatives=[{"topic": self.labels[j], "probability": round(q, 6)} for j, q in zip(top, top_p)],
            ambiguous=bool(margin < self.ambiguity_margin),
            cannot_handle=cannot_handle,
            reason=reason,
            provider=prov,
            provider_source=source,
            channels=channels,
            model_version=self.model_version,
            explanation=self.scorer.explain(text, best) if explain else None,
        )
