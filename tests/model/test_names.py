"""The name markers: the provider a message names and other companies' names, as marker words the
classifier reads beside the n-grams; a well-behaved scikit-learn transformer."""

from __future__ import annotations

import joblib
import pytest
from sklearn.utils.estimator_checks import (
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
    parametrize_with_checks,
)

from model.names import OTHER, NameMarker, read_names
from model.normalize import normalize
from training.train import OTHER_SERVICES

SHIPPED = read_names(OTHER_SERVICES)


@pytest.fixture(scope="module")
def marker() -> NameMarker:
    return NameMarker(names=SHIPPED).fit()


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
    assert m.names_other("wise perevod") and not m.names_other("wisely")
    assert m.names_other("privat") and not m.names_other("private")
    assert m.names_other("sbera") and m.names_other("sberbank") is False  # "bank" is four letters
    assert m.names_other("okx") and not m.names_other("okxa")
    assert NameMarker(names=()).fit().transform(["сбер"]) == ["сбер"]
    assert NameMarker(names=("сбер",), providers=False).fit().transform(["киви сбер"]) == [f"киви сбер {OTHER}"]


def test_the_shipped_list(marker):
    assert len(SHIPPED) > 150 and len(set(SHIPPED)) == len(SHIPPED)
    # common words of the three languages that the list's names must not catch
    common = (
        "мир мира моно открытие розетка стимул приватний private wise wisely humor contact trust sense visa apple google сбп дія"
    )
    assert [w for w in common.split() if w != "wise" and marker.names_other(w)] == []
    # the list names no provider: those get their own markers
    assert not any(marker.names_other(w) for w in ["qiwi", "киви", "webmoney", "вебмани", "keeper", "wmid"])


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
