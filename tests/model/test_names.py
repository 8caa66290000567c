"""The name markers: the provider a message names and other companies' names, as marker words the
classifier reads beside the n-grams; a well-behaved scikit-learn transformer."""

from __future__ import annotations

import re

import joblib
import numpy as np
import pytest
from sklearn.utils.estimator_checks import (
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
    parametrize_with_checks,
)

from model.names import MAX_ENDING, MIN_STEM, OTHER, NameMarker, read_names
from model.normalize import normalize
from training.train import OTHER_SERVICES

SHIPPED = read_names(OTHER_SERVICES)


@pytest.fixture(scope="module")
def marker() -> NameMarker:
    return NameMarker(names=SHIPPED).fit()


def names_other(names, text: str) -> bool:
    """The rule, in plain Python: a run of word characters equal to a name, or to a name of MIN_STEM
    letters or more (not ending in "=") followed by at most MAX_ENDING more characters."""
    exact = {n.rstrip("=") for n in names}
    stems = {n for n in names if len(n) >= MIN_STEM and not n.endswith("=")}
    for word in re.findall(r"\w+", text):
        if word in exact or any(word[:cut] in stems for cut in range(max(MIN_STEM, len(word) - MAX_ENDING), len(word))):
            return True
    return False


def named(m: NameMarker, text: str) -> bool:
    return bool(m.names_other([text])[0])


@parametrize_with_checks([NameMarker(names=("сбер",))])
def test_sklearn_estimator_rules(estimator, check):
    check(estimator)  # takes texts, so sklearn yields only its input-independent checks here


@pytest.mark.parametrize(
    "check", [check_no_attributes_set_in_init, check_get_params_invariance, check_set_params, check_estimator_repr]
)
def test_sklearn_api_rules_that_do_not_need_numeric_input(check):
    check("NameMarker", NameMarker(names=("сбер", "втб="), providers=False))


@pytest.mark.parametrize(
    "text, marks",
    [
        ("Перевела со Сбера на Приватбанку, деньги не пришли", [OTHER]),
        ("Revolut card declined abroad", [OTHER]),
        ("perevod s tinkoffe zavis", [OTHER]),  # an ending of up to three letters
        ("карта ВТБ не работает", [OTHER]),  # a three-letter name, whole word
        ("не могу войти в Киви кошелек", ["_qiwi_"]),
        ("Ківі гаманець заблоковано, а гроші з монобанку", ["_qiwi_", OTHER]),
        ("WMZ purse, keeper says error", ["_webmoney_"]),
        ("приватний підприємець, рахунок у гаманці", []),  # "приват" matches only itself and its case forms
        ("my private account was blocked", []),
        ("втбшный перевод", []),  # a three-letter name takes no ending
        ("юмористка сберегла пароль", []),  # a name inside or before a longer word is not the name
        ("стимул оплатить счет", []),
        ("сберкасса", []),  # "сбер" + four letters: too long an ending
        ("", []),
    ],
)
def test_marks(marker, text, marks):
    norm = normalize(text)
    marked = marker.mark(norm)
    assert marked == " ".join([norm, *marks]), marked


def test_exact_only_and_endings():
    m = NameMarker(names=("wise=", "privat=", "sber", "okx")).fit()
    assert named(m, "wise perevod") and not named(m, "wisely")
    assert named(m, "privat") and not named(m, "private")
    assert named(m, "sbera") and not named(m, "sberbank")  # "bank" is four letters
    assert named(m, "okx") and not named(m, "okxa")
    assert NameMarker(names=()).fit().transform(["сбер"]) == ["сбер"]
    assert NameMarker(names=("сбер",), providers=False).fit().transform(["киви сбер"]) == [f"киви сбер {OTHER}"]


def test_the_shipped_list(marker):
    assert len(SHIPPED) > 150 and len(set(SHIPPED)) == len(SHIPPED)
    # common words of the three languages that the list's names must not catch
    common = (
        "мир мира моно открытие розетка стимул приватний private wise wisely humor contact trust sense visa apple google сбп дія"
    )
    assert [w for w in common.split() if w != "wise" and named(marker, w)] == []
    # the list names no provider: those get their own markers
    assert not marker.names_other(["qiwi", "киви", "webmoney", "вебмани", "keeper", "wmid"]).any()


def test_compiled_search_equals_the_rule(marker, questions):
    docs = [normalize(t) for t in questions["text"]]
    found = marker.names_other(docs)
    assert found.tolist() == [names_other(SHIPPED, d) for d in docs]
    assert 1000 < found.sum() < len(docs) / 4  # the data names other companies, in a minority of messages
    # words at the ends of texts, names as prefixes of longer words, inside words, between non-word
    # characters of several scripts, an underscore (a word character), digits, a name split by a text boundary
    names = ("сбер", "втб=", "kaspi", "ab_cd", "x1y2")
    tricky = [
        "сбер", "сбе", "сберр", "сбер123", "сбербан", "сбербанк", "_сбер", "сбер_", "(сбер)", "«втб»", "втб.", "втбб", "нсбер",
        "kaspi\u00a0gold", "kaspigo", "kaspi·bank", "ab_cd", "ab_cde", "ab cd", "x1y2z", "x1y2", "", " ", "\u0301сбер", "сбер\u0301",
    ]  # fmt: skip
    small = NameMarker(names=names).fit()
    assert small.names_other(tricky).tolist() == [names_other(names, t) for t in tricky]
    assert small.names_other(["сб", "ер сбер"]).tolist() == [False, True]
    assert NameMarker(names=()).fit().names_other(["сбер"]).tolist() == [False]


def test_read_names_rejects_malformed_lines(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("# comment\nсбер\n\nTinkoff\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"names\.txt:4: .*'Tinkoff'"):
        read_names(path)
    path.write_text("сбер # a bank\nwestern union\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r":2: a name must be one lower-case word"):
        read_names(path)
    path.write_text("сбер\nвтб=\nсбер\n", encoding="utf-8")
    assert read_names(path) == ("сбер", "втб=")


def test_input_checks_and_pickling(marker, tmp_path):
    with pytest.raises(ValueError, match="list of texts"):
        marker.transform("сбер")
    joblib.dump(marker, tmp_path / "m.joblib")
    again = joblib.load(tmp_path / "m.joblib")
    texts = [normalize(t) for t in ["со Сбера на Киви", "ничего", "kaspi gold"]]
    assert again.transform(texts) == marker.transform(texts) == [f"{texts[0]} _qiwi_ {OTHER}", texts[1], f"{texts[2]} {OTHER}"]
    assert marker.transform(iter(texts)) == marker.transform(texts) and marker.transform([]) == []
    assert np.array_equal(again.names_other(texts), [True, False, True])
