"""Every endpoint and every bad input of issue 5, through TestClient."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.settings import Settings


def assert_error(r, status, code):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == code
    assert body["message"] and isinstance(body["details"], list)
    assert r.headers["x-request-id"]


def test_route_answers_topic_channels_and_provider(client):
    r = client.post("/v1/route", json={"text": "Не приходит смс с кодом для входа в Киви кошелек"})
    assert r.status_code == 200
    body = r.json()
    assert body["topic"] == "login"
    assert body["provider"] == "qiwi" and body["provider_source"] == "text"
    assert body["channels"][0]["id"] == "qiwi_hotline"
    assert body["channels"][0]["contacts"][0]["value"] == "8 800 707-77-59"
    assert body["cannot_handle"] is False and body["reason"] is None
    assert len(body["alternatives"]) == 3 and body["alternatives"][0]["topic"] == "login"
    assert 0 < body["confidence"] <= 1
    assert body["model_version"]
    assert "explanation" not in body


def test_request_provider_wins_and_cannot_handle_has_reason(client):
    r = client.post(
        "/v1/route",
        json={
            "text": "I sent money to the wrong wallet by mistake, typo in the number, please return it",
            "provider": "webmoney",
        },
    )
    body = r.json()
    assert body["topic"] == "wrong_recipient"
    assert body["provider"] == "webmoney" and body["provider_source"] == "request"
    assert body["cannot_handle"] is True and body["reason"]["code"] == "wrong_recipient"
    assert body["channels"] == []


def test_explain_returns_weighted_ngrams(client):
    body = client.post("/v1/route", json={"text": "терминал съел купюру 1000 и не зачислил", "explain": True}).json()
    assert body["topic"] == "terminal"
    ex = body["explanation"]
    assert ex and all(e["weight"] > 0 for e in ex)
    assert any("термин" in e["ngram"] for e in ex)
    assert [e["weight"] for e in ex] == sorted((e["weight"] for e in ex), reverse=True)


def test_batch_keeps_order(client):
    items = [
        {"text": "терминал съел деньги"},
        {"text": "how do I verify my passport in webmoney"},
        {"text": "какая погода завтра в Москве"},
    ]
    r = client.post("/v1/route/batch", json={"items": items})
    assert r.status_code == 200
    assert [x["topic"] for x in r.json()["results"]] == ["terminal", "general", "out_of_scope"]


def test_model_topics_health_ready_metrics(client):
    m = client.get("/v1/model").json()
    assert len(m["labels"]) == 11 and m["oos_label"] == "out_of_scope"
    assert {"reject", "margin"} <= set(m["thresholds"]) and m["versions"]["scikit-learn"]
    assert m["encoder"] is None and m["cascade"] is None and m["data"]["validation"]["method"] == "5-fold cross-validation"
    topics = client.get("/v1/topics").json()["topics"]
    assert [t["id"] for t in topics][:2] == ["login", "payment"]
    card = next(t for t in topics if t["id"] == "card")
    assert card["channels"]["qiwi"][0]["id"] == "qiwi_bank_hotline"
    assert next(t for t in topics if t["id"] == "third_party")["reason"]
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    client.post("/v1/route", json={"text": "купил игру, оплата прошла, а ключ продавец не прислал"})
    metrics = client.get("/metrics").text
    assert "qrouter_answers_total" in metrics and "http_request_duration_seconds" in metrics
    assert 'qrouter_cannot_handle_total{reason="third_party"}' in metrics
    assert client.get("/openapi.json").json()["paths"]["/v1/route"]
    assert client.get("/docs").status_code == 200


def test_request_id_is_echoed(client):
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"json": {"text": ""}}, 422, "invalid_request"),
        ({"json": {"text": "   \n\t"}}, 422, "invalid_request"),
        ({"json": {}}, 422, "invalid_request"),
        ({"json": {"text": 42}}, 422, "invalid_request"),
        ({"json": {"text": ["a"]}}, 422, "invalid_request"),
        ({"json": {"text": "hi", "explain": "maybe"}}, 422, "invalid_request"),
        ({"json": {"text": "hi", "provider": "paypal"}}, 422, "invalid_request"),
        ({"json": {"text": "hi", "extra": 1}}, 422, "invalid_request"),
        ({"json": ["text"]}, 422, "invalid_request"),
        ({"json": {"text": "x" * 501}}, 413, "text_too_long"),
        ({"content": b'{"text": "unterminated', "headers": {"content-type": "application/json"}}, 400, "invalid_json"),
        ({"content": b"", "headers": {"content-type": "application/json"}}, 422, "invalid_request"),
        (
            {"content": b"text=hello", "headers": {"content-type": "application/x-www-form-urlencoded"}},
            415,
            "unsupported_media_type",
        ),
        ({"content": b'{"text": "hi"}'}, 415, "unsupported_media_type"),
        (
            {"content": b'{"text": "' + b"a" * 120_000 + b'"}', "headers": {"content-type": "application/json"}},
            413,
            "body_too_large",
        ),
        ({"content": b"\xff\xfe\x00garbage", "headers": {"content-type": "application/json"}}, 400, "invalid_json"),
    ],
)
def test_bad_route_input_is_a_readable_4xx(client, kwargs, status, code):
    assert_error(client.post("/v1/route", **kwargs), status, code)


def test_blank_text_message_is_readable(client):
    r = client.post("/v1/route", json={"text": "  "})
    assert r.json()["message"] == "text: text is empty or blank"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"items": []}, 422, "invalid_request"),
        ({"items": [{"text": ""}]}, 422, "invalid_request"),
        ({"items": [{"text": "ok", "provider": "visa"}]}, 422, "invalid_request"),
        ({"items": [{"text": "ok"}] * 51}, 413, "too_many_items"),
        ({"items": [{"text": "ok"}, {"text": "y" * 501}]}, 413, "text_too_long"),
        ({"items": "nope"}, 422, "invalid_request"),
    ],
)
def test_bad_batch_input_is_a_readable_4xx(client, body, status, code):
    assert_error(client.post("/v1/route/batch", json=body), status, code)


def test_unknown_path_and_method(client):
    assert_error(client.get("/v1/nothing"), 404, "not_found")
    assert_error(client.get("/v1/route"), 405, "method_not_allowed")


def test_body_without_content_length_is_limited(client):
    def chunks():
        yield b'{"text": "'
        for _ in range(30):
            yield b"a" * 5_000
        yield b'"}'

    r = client.post("/v1/route", content=chunks(), headers={"content-type": "application/json"})
    assert_error(r, 413, "body_too_large")


def test_missing_model_is_live_but_not_ready(tmp_path):
    with TestClient(create_app(Settings(model_dir=tmp_path / "missing"))) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert_error(r, 503, "not_ready")
        assert "does not exist" in r.json()["message"]
        assert_error(c.post("/v1/route", json={"text": "hi"}), 503, "not_ready")


def test_tampered_model_is_not_ready(tmp_path, domain_artifact):
    import shutil

    art = tmp_path / "art"
    shutil.copytree(domain_artifact, art)
    with open(art / "pipeline.joblib", "ab") as fh:
        fh.write(b"x")
    with TestClient(create_app(Settings(model_dir=art))) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and "sha256" in r.json()["message"]


def test_csv_upload_round_trip(client):
    data = '№;Текст обращения;сумма\n007;терминал съел купюру;1 000,50\n008;;\n009;"Киви не пускает,\nпароль не подходит";0\n'.encode(
        "cp1251"
    )
    r = client.post("/v1/classify/csv", files={"file": ("export.csv", data, "text/csv")}, data={"text_column": "Текст обращения"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8"))))
    assert [row["№"] for row in rows] == ["007", "008", "009"]
    assert rows[0]["сумма"] == "1 000,50" and rows[0]["topic"] == "terminal"
    assert rows[1]["reason"] == "empty_text" and rows[1]["topic"] == ""
    assert rows[2]["Текст обращения"] == "Киви не пускает,\nпароль не подходит" and rows[2]["topic"] == "login"


def test_csv_upload_errors(client):
    r = client.post("/v1/classify/csv", files={"file": ("e.csv", b"a,b\n1,2\n", "text/csv")})
    assert_error(r, 422, "bad_csv")
    assert "columns are: a, b" in r.json()["message"]
    r = client.post("/v1/classify/csv", files={"file": ("e.csv", b"text\n" + b"word\n" * 50_000, "text/csv")})
    assert_error(r, 413, "body_too_large")
    assert_error(client.post("/v1/classify/csv"), 422, "invalid_request")


def test_admin_reload_needs_the_api_key(tmp_path, domain_artifact):
    import shutil

    art = tmp_path / "art"
    shutil.copytree(domain_artifact, art)
    with TestClient(create_app(Settings(model_dir=art))) as c:  # no key configured: admin disabled
        assert_error(c.post("/v1/admin/reload"), 403, "forbidden")
    with TestClient(create_app(Settings(model_dir=art, api_key="s3cret"))) as c:
        assert_error(c.post("/v1/admin/reload"), 401, "unauthorized")
        assert_error(c.post("/v1/admin/reload", headers={"X-API-Key": "wrong"}), 401, "unauthorized")
        ok = c.post("/v1/admin/reload", headers={"X-API-Key": "s3cret"})
        assert ok.status_code == 200 and ok.json()["model_version"] == ok.json()["previous_model_version"]
        (art / "pipeline.joblib").write_bytes(b"tampered")
        assert_error(c.post("/v1/admin/reload", headers={"X-API-Key": "s3cret"}), 503, "not_ready")
        assert c.get("/readyz").status_code == 503
