from __future__ import annotations

import random
import re

import pytest

from model.normalize import normalize, redact
from model.providers import detect_provider, resolve_provider


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  ЁЛКИ   Палки ", "елки палки"),
        ("ｑｉｗｉ", "qiwi"),  # NFKC folds full-width letters
        ("Пишите на tp@qiwi.com", "пишите на _email_"),
        ("см. https://www.webmoney.ru/rus/support/financial.shtml", "см. _url_"),
        ("карта 4276 **** **** 1234 не работает", "карта _card_ не работает"),
        ("карта 4276380012345678 не работает", "карта _card_ не работает"),
        ("звонил на 8 800 707-77-59 и +7 (495) 783-69-00", "звонил на _phone_ и _phone_"),
        ("перевел 1 500,50 руб", "перевел _num_ _num_ руб"),
        ("WMID 123456789012", "wmid _num_"),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_redact_keeps_words_and_hides_card_phone_email():
    out = redact("Карта 5469 3800 1234 5678, тел +7 912 345-67-89, mail ivan@mail.ru")
    assert "5469" not in out and "912" not in out and "ivan@" not in out
    assert out.startswith("Карта _card_")


@pytest.mark.parametrize(
    ("text", "provider"),
    [
        ("Не могу зайти в Киви", "qiwi"),
        ("QIWI кошелек заблокирован", "qiwi"),
        ("ківі гаманець", "qiwi"),
        ("Qiwi Банк карта", "qiwi"),
        ("мой WMZ-кошелек пуст", "webmoney"),
        ("не открывается Кипер", "webmoney"),
        ("Кіпер не працює", "webmoney"),
        ("WebMoney Keeper WinPro", "webmoney"),
        ("вебмани", "webmoney"),
        ("Вебмані", "webmoney"),
        ("my WMID is 123", "webmoney"),
        ("получить аттестат", "webmoney"),
        ("кивок головой", None),
        ("goalkeeper", None),
        ("swmz", None),
        ("просто текст", None),
    ],
)
def test_detect_provider(text, provider):
    assert detect_provider(text) == provider


def test_first_named_provider_wins_and_request_beats_text():
    assert detect_provider("перевел с вебмани на киви") == "webmoney"
    assert resolve_provider("в киви не пришло", "webmoney") == ("webmoney", "request")
    assert resolve_provider("в киви не пришло") == ("qiwi", "text")
    assert resolve_provider("ничего не пришло") == (None, None)


def test_provider_detection_agrees_with_dataset_labels(questions):
    """The data's provider column is what a reader sees in the text; detection should agree."""
    got = questions["text"].map(lambda t: detect_provider(t) or "none")
    agreement = (got == questions["provider"]).mean()
    assert agreement >= 0.95, agreement


def _reference_normalize(text: str) -> str:
    """normalize without its quick skips: every pattern applied to every text, in the same order."""
    import unicodedata

    from model import normalize as n

    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    for pattern, token in ((n._EMAIL_RE, n.EMAIL), (n._URL_RE, n.URL), (n._CARD_RE, n.CARD), (n._PHONE_RE, n.PHONE)):
        text = pattern.sub(f" {token} ", text)
    text = n._NUM_RE.sub(f" {n.NUM} ", text)
    return re.sub(r"\s+", " ", text).strip()


def test_quick_skips_never_change_the_result(questions):
    """The skips in normalize (no '@', no URL hint, no digit) are necessary conditions of the patterns:
    the result equals applying every pattern, on real rows and on random strings of the characters the
    patterns care about."""
    rng = random.Random(7)
    pieces = list("ab Zё.@:/-+()*xх•8 90١٢\t\n\u00a0\u3000_,") + ["www.", "http://", ".com", ".html", "+7 ", "4276 ", "8 800 "]
    texts = questions["text"].tolist() + ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(20000)]
    assert [normalize(t) for t in texts] == [_reference_normalize(t) for t in texts]


def test_provider_search_equals_the_case_insensitive_one(questions):
    """detect_provider searches case-folded text without IGNORECASE, and only texts with one of the names'
    literals; the answer must equal a case-insensitive search with a look-behind per name, including the
    letters IGNORECASE treats specially (dotless i, long s, the Kelvin sign, Cyrillic rounded ve), on every
    spelling the names allow."""
    import unicodedata

    from model import providers as pr

    reference = re.compile(
        "|".join(f"(?P<{name}>{pr._START}(?:{'|'.join(pats)}))" for name, pats in pr._PATTERNS.items()), re.IGNORECASE
    )

    def expected(text: str) -> str | None:
        m = reference.search(unicodedata.normalize("NFKC", text).casefold().replace("ё", "е"))
        return m.lastgroup if m else None

    rng = random.Random(3)
    pieces = ["qiwi", "QıWı", "kiwi", "Kiwi", "\u212aivi", "киви", "ківі", "web", "money", "WM", "wmz", "ſ", "ᲀеб", "вэб", "мани",
              "keeper", "Кипер", "аттестат", "attestat", "x", "1", " ", "-", "_", "ı", "vebmani", "WebMany", "kiper", "Keper",
              "wmid", "атестат", "atestat", "web-", "wеb", "вебмані", "кіпер", "KIVI", "wmr", "вeб", "man", "y", "i"]  # fmt: skip
    texts = questions["text"].tolist() + ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(20000)]
    assert [detect_provider(t) for t in texts] == [expected(t) for t in texts]
