"""The routing table: support channels and, per provider, the ordered channels for each topic.

It is data (``routing.yaml`` beside this file, or any file given by path), validated on load, so a
changed phone number or channel order needs no retraining.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_ROUTING_PATH = Path(__file__).with_name("routing.yaml")
ChannelKind = Literal["phone", "email", "online_form", "faq", "forum"]


class RoutingTableError(ValueError):
    """The routing table is unreadable or inconsistent; the message says where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Strict):
    type: Literal["phone", "email", "url"]
    value: str = Field(min_length=1)
    note: str | None = None


class Channel(_Strict):
    id: str
    provider: str
    kind: ChannelKind
    name: str = Field(min_length=1)
    contacts: tuple[Contact, ...] = Field(min_length=1)
    hours: str | None = None
    notes: str | None = None
    source: str | None = None


class Topic(_Strict):
    name: str = Field(min_length=1)
    can_handle: bool


class Provider(_Strict):
    name: str = Field(min_length=1)


class RoutingTable(_Strict):
    version: int
    providers: dict[str, Provider] = Field(min_length=1)
    topics: dict[str, Topic] = Field(min_length=1)
    reasons: dict[str, str]
    channels: dict[str, Channel]
    routes: dict[str, dict[str, tuple[str, ...]]]

    @model_validator(mode="before")
    @classmethod
    def _channel_ids(cls, data):
        if isinstance(data, dict) and isinstance(data.get("channels"), dict):
            data = dict(data)
            data["channels"] = {cid: ({"id": cid, **ch} if isinstance(ch, dict) else ch) for cid, ch in data["channels"].items()}
        return data

    @model_validator(mode="after")
    def _consistent(self):
        errors = []
        for cid, ch in self.channels.items():
            if ch.provider not in self.providers:
                errors.append(f"channel {cid!r} names unknown provider {ch.provider!r}")
        for provider in self.providers:
            if provider not in self.routes:
                errors.append(f"provider {provider!r} has no routes")
        for provider, routes in self.routes.items():
            if provider not in self.providers:
                errors.append(f"routes given for unknown provider {provider!r}")
                continue
            for topic in self.topics:
                if topic not in routes:
                    errors.append(f"topic {topic!r} is not routed for provider {provider!r}")
            for topic, ids in routes.items():
                if topic not in self.topics:
                    errors.append(f"routes.{provider} names unknown topic {topic!r}")
                for cid in ids:
                    if cid not in self.channels:
                        errors.append(f"routes.{provider}.{topic} uses undefined channel {cid!r}")
                    elif self.channels[cid].provider != provider:
                        errors.append(f"routes.{provider}.{topic} uses {cid!r}, a channel of {self.channels[cid].provider!r}")
                if self.topics.get(topic) and self.topics[topic].can_handle and not ids:
                    errors.append(f"routes.{provider}.{topic} is empty but the topic is one support can handle")
        for topic, t in self.topics.items():
            if not t.can_handle and topic not in self.reasons:
                errors.append(f"cannot-handle topic {topic!r} has no entry in reasons")
        for code in ("low_confidence", "empty_text"):
            if code not in self.reasons:
                errors.append(f"reasons must define {code!r}")
        if errors:
            raise ValueError("; ".join(errors))
        return self

    def channels_for(self, topic: str, provider: str | None) -> tuple[Channel, ...]:
        """Ordered channels for a topic; with no provider, each provider's channels in table order.

        A topic the table does not know (a model trained on another label set) gets no channels.
        """
        providers = [provider] if provider else list(self.providers)
        return tuple(self.channels[cid] for p in providers for cid in self.routes.get(p, {}).get(topic, ()))

    def can_handle(self, topic: str) -> bool:
        t = self.topics.get(topic)
        return t.can_handle if t else True


def load_routing_table(path: str | Path | None = None) -> RoutingTable:
    """Read and validate a routing table; a broken one raises RoutingTableError naming the problem."""
    path = Path(path) if path else DEFAULT_ROUTING_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoutingTableError(f"cannot read routing table {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise RoutingTableError(f"routing table {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RoutingTableError(f"routing table {path} must be a YAML mapping")
    try:
        return RoutingTable.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msgs.append(f"{loc}: {err['msg']}" if loc else err["msg"].removeprefix("Value error, "))
        raise RoutingTableError(f"routing table {path} is invalid: " + "; ".join(msgs)) from None
