from __future__ import annotations

import copy

import pytest
import yaml

from model.routing import DEFAULT_ROUTING_PATH, RoutingTableError, load_routing_table
from tests.conftest import TAXONOMY_IDS


@pytest.fixture
def table_dict():
    return yaml.safe_load(DEFAULT_ROUTING_PATH.read_text(encoding="utf-8"))


def write(tmp_path, data):
    p = tmp_path / "routing.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def test_default_table_routes_every_topic_for_every_provider():
    t = load_routing_table()
    assert tuple(t.topics) == TAXONOMY_IDS
    for provider in ("qiwi", "webmoney"):
        for topic in TAXONOMY_IDS:
            chans = t.channels_for(topic, provider)
            assert bool(chans) == t.can_handle(topic)
            assert all(c.provider == provider for c in chans)


def test_facts_from_the_seeds():
    t = load_routing_table()
    values = lambda cid: [c.value for c in t.channels[cid].contacts]  # noqa: E731
    assert values("qiwi_hotline") == ["8 800 707-77-59", "+7 495 783-69-00"]
    assert values("qiwi_agents_hotline") == ["8 800 200-53-90"]
    assert "8-800-200-62-25" in values("qiwi_bank_hotline")
    assert values("qiwi_terminal_email") == ["konsultant@qiwi.com"]
    assert "+7 (495) 727-4333" in values("wm_hotline")
    assert [c.id for c in t.channels_for("card", "qiwi")] == ["qiwi_bank_hotline", "qiwi_bank_email"]
    assert [c.id for c in t.channels_for("terminal", "qiwi")][0] == "qiwi_terminal_email"


def test_unknown_provider_gets_every_providers_channels_and_unknown_topic_none():
    t = load_routing_table()
    ids = [c.id for c in t.channels_for("login", None)]
    assert ids == ["qiwi_hotline", "qiwi_tp_email", "wm_tech_support", "wm_hotline"]
    assert t.channels_for("pin_change", "qiwi") == ()


def test_missing_route_and_undefined_channel_are_named(tmp_path, table_dict):
    bad = copy.deepcopy(table_dict)
    del bad["routes"]["webmoney"]["sms"]
    bad["routes"]["qiwi"]["login"].append("no_such_channel")
    with pytest.raises(RoutingTableError) as e:
        load_routing_table(write(tmp_path, bad))
    assert "topic 'sms' is not routed for provider 'webmoney'" in str(e.value)
    assert "undefined channel 'no_such_channel'" in str(e.value)


def test_bad_kind_and_missing_reason_and_foreign_channel(tmp_path, table_dict):
    bad = copy.deepcopy(table_dict)
    bad["channels"]["qiwi_hotline"]["kind"] = "pigeon"
    del bad["reasons"]["wrong_recipient"]
    bad["routes"]["webmoney"]["login"] = ["qiwi_tp_email"]
    with pytest.raises(RoutingTableError) as e:
        load_routing_table(write(tmp_path, bad))
    msg = str(e.value)
    assert "qiwi_hotline.kind" in msg


def test_semantic_errors(tmp_path, table_dict):
    bad = copy.deepcopy(table_dict)
    del bad["reasons"]["wrong_recipient"]
    bad["routes"]["webmoney"]["login"] = ["qiwi_tp_email"]
    with pytest.raises(RoutingTableError) as e:
        load_routing_table(write(tmp_path, bad))
    assert "'wrong_recipient' has no entry in reasons" in str(e.value)
    assert "a channel of 'qiwi'" in str(e.value)


def test_unreadable_and_not_yaml(tmp_path):
    with pytest.raises(RoutingTableError, match="cannot read"):
        load_routing_table(tmp_path / "missing.yaml")
    p = tmp_path / "x.yaml"
    p.write_text("routes: [unclosed", encoding="utf-8")
    with pytest.raises(RoutingTableError, match="not valid YAML"):
        load_routing_table(p)


def test_phone_change_needs_no_retraining(tmp_path, table_dict, domain_artifact):
    from model.router import Router

    edited = copy.deepcopy(table_dict)
    edited["channels"]["qiwi_hotline"]["contacts"][0]["value"] = "8 800 000-00-00"
    r = Router.load(domain_artifact, routing_path=write(tmp_path, edited))
    (route,) = r.route(["не могу войти в киви, пароль не подходит"])
    assert route.topic == "login"
    assert route.channels[0]["contacts"][0]["value"] == "8 800 000-00-00"
