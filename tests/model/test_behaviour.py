"""Model behaviour: phrasing changes that must not move the topic, boundary rules that must."""

from __future__ import annotations

import pytest

INVARIANT = [
    # (variants of one message, expected topic)
    (
        [
            "Не могу войти в Киви, пароль не подходит",
            "не могу войти в киви пароль не подходит!!!",
            "НЕ МОГУ ВОЙТИ В КИВИ ПАРОЛЬ НЕ ПОДХОДИТ",
        ],
        "login",
    ),
    (
        [
            "терминал съел 500 рублей и не зачислил",
            "Терминал съел 500р, деньги не зачислил 😡",
            "terminal sjel 500 rublej i ne zachislil",
        ],
        "terminal",
    ),
    (
        [
            "Карта Qiwi заблокирована, как разблокировать?",
            "как разблокировать карту киви, она заблокирована",
            "my qiwi card got blocked, how do i unblock it",
        ],
        "card",
    ),
    (["Какая завтра погода в Киеве?", "яка завтра погода в Києві", "what's the weather in Kyiv tomorrow"], "out_of_scope"),
]

DIRECTIONAL = [
    # rule 1: a sign-in code is login; another SMS is sms
    ("Не приходит смс с кодом для входа в кошелек", "login"),
    ("Не приходят смс-уведомления о зачислении на кошелек", "sms"),
    # rule 2: the terminal's customer vs its operator
    ("Заплатил через терминал в магазине, деньги не зачислились", "terminal"),
    ("Я агент, мой терминал не принимает купюры, купюроприемник заклинило", "agent"),
    # rule 4: the payment's own status vs a merchant that did not deliver
    ("Платеж в интернет-магазин завис в статусе в обработке уже сутки", "payment"),
    ("Оплатил заказ в интернет-магазине, платеж успешно прошел, а товар так и не прислали", "third_party"),
    # rule 5: right details but not arrived vs the sender's own typo
    ("Перевел другу на кошелек, номер верный, а деньги не дошли", "payment"),
    ("Ошибся в одной цифре номера и перевел деньги чужому человеку, верните", "wrong_recipient"),
]


@pytest.mark.parametrize(("variants", "topic"), INVARIANT)
def test_phrasing_changes_do_not_change_the_topic(router, variants, topic):
    assert [r.topic for r in router.route(variants)] == [topic] * len(variants)


@pytest.mark.parametrize(("text", "topic"), DIRECTIONAL)
def test_boundary_rules_move_the_topic(router, text, topic):
    (r,) = router.route([text])
    assert r.topic == topic, r.alternatives


def test_provider_comes_from_text_or_request(router):
    a, b, c = router.route(["WMZ кошелек заблокирован", "кошелек заблокирован", "кошелек заблокирован"], [None, None, "qiwi"])
    assert (a.provider, a.provider_source) == ("webmoney", "text")
    assert (b.provider, b.provider_source) == (None, None)
    assert [ch["provider"] for ch in b.channels] == ["qiwi", "qiwi", "webmoney", "webmoney"]
    assert (c.provider, c.provider_source, c.channels[0]["id"]) == ("qiwi", "request", "qiwi_hotline")
    (d,) = router.route(["кошелек заблокирован"], default_provider="webmoney")
    assert (d.provider, d.provider_source) == ("webmoney", "default")


def test_empty_text_is_flagged_not_classified(router):
    (r,) = router.route(["   "])
    assert r.topic is None and r.cannot_handle and r.reason["code"] == "empty_text"


def test_domain_test_split_targets(router, test_split):
    """Regression floors on the held-out test split (never used for training or tuning), set just under
    the measured macro-F1 and cannot-handle F1 of the default model on the eight-round data (0.950 and
    0.949 without the name markers, 0.952 and 0.953 with them; issue-4 targets: 0.93 and 0.95). The floors
    stay under the 0.95 target: one of the 1,806 cannot-handle rows moves that F1 by about 0.0003."""
    from training.evaluate import evaluate

    m = evaluate(test_split, router)
    print({k: m[k] for k in ("macro_f1", "accuracy")}, m["cannot_handle"], m["per_lang"], m["per_round"])
    assert m["macro_f1"] >= MACRO_F1_FLOOR
    assert m["cannot_handle"]["f1"] >= CANNOT_HANDLE_F1_FLOOR
    # scored per writing round too: every round's test rows, each with its own cannot-handle F1
    assert set(m["per_round"]) == set(test_split["round"])
    assert sum(r["rows"] for r in m["per_round"].values()) == len(test_split)
    assert all(0.85 <= r["cannot_handle_f1"] <= 1.0 for r in m["per_round"].values())


MACRO_F1_FLOOR = 0.935
CANNOT_HANDLE_F1_FLOOR = 0.935
