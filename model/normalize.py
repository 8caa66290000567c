"""Text normalisation shared by training and inference.

``normalize`` is what the classifier sees: Unicode NFKC, case folding, ``ё`` -> ``е``, and e-mails,
URLs, card numbers, phone numbers and other numbers replaced by placeholder tokens, spaces collapsed.
``redact`` keeps the text readable for logs but removes the same sensitive values.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

EMAIL = "_email_"
URL = "_url_"
CARD = "_card_"
PHONE = "_phone_"
NUM = "_num_"

_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL_RE = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|ru|ua|net|org|shtml|html)(?:/\S*)?\b")
# 13-19 digits in groups (spaces or dashes), masked groups allowed: 4276 **** **** 1234, 5469-38xx-xxxx-0012
_CARD_RE = re.compile(r"(?<!\w)\d{4}(?:[ -]?(?:\d{4}|[*xх•]{4})){2}[ -]?\d{1,7}(?!\w)", re.IGNORECASE)
# +7 495 783-69-00, 8 800 707-77-59, 8-800-200-62-25, +380 (67) 123 45 67, +(84) 19-00-6474
_PHONE_RE = re.compile(
    r"(?<![\w+])(?:\+\s?\(?\d{1,3}\)?|8)[\s-]?\(?\d{2,4}\)?[\s-]?\d{2,3}[\s-]?\d{2}[\s-]?\d{2,4}(?:/\d{2})?(?!\w)"
)
_NUM_RE = re.compile(r"\d+(?:[.,]\d+)*")
# Quick tests that a pattern above cannot match, which skip most of the work for most messages. Each
# is a necessary condition of its pattern's matches: a URL has "://", "www." or ".<domain>" at a word
# end; a card, a phone number and a number have a digit; an e-mail has "@".
_URL_HINT_RE = re.compile(r"://|www\.|\.(?:com|ru|ua|net|org|shtml|html)\b")
_DIGIT_RE = re.compile(r"\d")


def _mask(text: str, numbers: bool = False) -> str:
    if "@" in text:
        text = _EMAIL_RE.sub(f" {EMAIL} ", text)
    if _URL_HINT_RE.search(text):
        text = _URL_RE.sub(f" {URL} ", text)
    if _DIGIT_RE.search(text):
        text = _CARD_RE.sub(f" {CARD} ", text)
        text = _PHONE_RE.sub(f" {PHONE} ", text)
        if numbers:
            text = _NUM_RE.sub(f" {NUM} ", text)
    return text


def _collapse(text: str) -> str:
    """Runs of whitespace as one space, none at the ends (str.split and re's \\s agree on whitespace)."""
    return " ".join(text.split())


def normalize(text: str) -> str:
    """The canonical form of one message, as the classifier sees it."""
    return _collapse(_mask(unicodedata.normalize("NFKC", text).casefold().replace("ё", "е"), numbers=True))


def normalize_many(texts: Iterable[str]) -> list[str]:
    """``normalize`` over a sequence; the first step of the fitted pipeline."""
    return [normalize(t) for t in texts]


def redact(text: str) -> str:
    """The text with e-mails, URLs, card and phone numbers masked; safe to log."""
    return _collapse(_mask(text))
