"""Data tests for datasets/questions.csv and the raw parts it is built from (issue 3)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.conftest import TAXONOMY_IDS
from training.build_dataset import (
    BOUNDARY_RULES,
    COLUMNS,
    LANGS,
    OUT_PATH,
    PROVIDERS,
    TOPICS,
    assign_split,
    fold,
    near_duplicate_pairs,
    read_raw,
)


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return pd.read_csv(OUT_PATH, dtype=str, keep_default_na=False, encoding="utf-8")


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return read_raw()


def test_columns_and_values(df):
    assert tuple(df.columns) == COLUMNS
    assert set(df["topic"]) == set(TOPICS) == set(TAXONOMY_IDS)
    assert set(df["provider"]) <= set(PROVIDERS)
    assert set(df["lang"]) <= set(LANGS)
    assert set(df["split"]) == {"train", "test"}
    assert set(df["round"]) == {"1", "3", "4", "5", "6", "7", "8"}  # the writing round each row's split was drawn in


def test_label_set_equals_taxonomy(df, taxonomy_text):
    ids = set(re.findall(r"^\| `([a-z_]+)` \|", taxonomy_text, flags=re.M)) - {"qiwi", "webmoney"}
    assert ids == set(df["topic"])


def test_no_empty_texts_and_no_duplicates(df):
    assert (df["text"].str.strip() != "").all()
    folded = df["text"].map(fold)
    assert not folded.duplicated().any(), folded[folded.duplicated(keep=False)].tolist()[:5]


def test_train_and_test_share_no_text(df):
    folded = df["text"].map(fold)
    shared = set(folded[df["split"] == "train"]) & set(folded[df["split"] == "test"])
    assert not shared


def test_counts_and_shares(df):
    counts = df["topic"].value_counts()
    print("\nrows by topic:\n" + counts.to_string())
    print("\nrows by topic x lang:\n" + pd.crosstab(df["topic"], df["lang"], margins=True).to_string())
    print("\nrows by topic x provider:\n" + pd.crosstab(df["topic"], df["provider"], margins=True).to_string())
    assert len(df) >= 3850
    assert counts.min() >= 350, counts.to_dict()
    lang_share = df["lang"].value_counts(normalize=True)
    for lang in ("ru", "uk", "en"):
        assert lang_share[lang] >= 0.15, lang_share.to_dict()
    assert lang_share["translit"] >= 0.05
    assert (df["provider"] != "none").mean() >= 0.40


def test_test_split_is_about_a_fifth_and_stratified(df):
    share = (df["split"] == "test").mean()
    assert 0.18 <= share <= 0.22
    by_topic = df.groupby("topic")["split"].apply(lambda s: (s == "test").mean())
    assert by_topic.between(0.15, 0.25).all(), by_topic.to_dict()


def test_split_is_reproducible_from_raw(df, raw):
    """questions.csv is derived: rebuilding the split from the raw parts gives the same file."""
    rebuilt = raw.assign(split=assign_split(raw))
    key = lambda d: d.assign(t=d["text"].map(fold)).set_index("t")["split"].sort_index()  # noqa: E731
    pd.testing.assert_series_equal(key(df), key(rebuilt))


def test_a_new_writing_round_moves_no_earlier_row_between_train_and_test(raw):
    first = raw[raw["round"] == 1]
    assert (raw["round"] > 1).any() and len(first) < len(raw)
    alone = assign_split(first.reset_index(drop=True))
    together = assign_split(raw)[raw["round"] == 1].reset_index(drop=True)
    pd.testing.assert_series_equal(alone, together)
    later = assign_split(raw)[raw["round"] > 1]
    assert 0.18 <= (later == "test").mean() <= 0.22  # each round gets its own fifth


def test_every_boundary_rule_has_fifteen_examples_a_side(raw):
    tagged = raw[raw["boundary"] != ""]
    table = pd.crosstab(tagged["boundary"], tagged["topic"])
    print("\nboundary rows (rule x topic):\n" + table.to_string())
    for rule, sides in BOUNDARY_RULES.items():
        for topic in sides:
            assert table.loc[rule, topic] >= 15, (rule, topic)


def test_near_duplicates_within_topic_are_rare(df):
    for topic, grp in df.groupby("topic"):
        texts = grp["text"].tolist()
        pairs = near_duplicate_pairs(texts, 0.8)
        share = len(pairs) / (len(texts) * (len(texts) - 1) / 2)
        assert share < 0.005, (topic, share)


def test_near_duplicate_detector_finds_a_known_pair():
    texts = [
        "не приходит смс с кодом на киви кошелек",
        "терминал съел купюру 500 рублей",
        "Не приходит СМС с кодом на Киви кошелек!!",
    ]
    assert [(i, j) for i, j, _ in near_duplicate_pairs(texts, 0.8)] == [(0, 2)]


def test_data_card_tables_match_the_data(raw, df):
    """datasets/README.md's count tables are exactly what the data gives (rebuilt by build_dataset)."""
    from training.build_dataset import CARD_END, CARD_PATH, CARD_START, card_tables

    card = CARD_PATH.read_text(encoding="utf-8")
    written = card.split(CARD_START, 1)[1].split(CARD_END, 1)[0].strip()
    merged = raw.merge(df[["text", "split"]], on="text", how="left", validate="one_to_one")
    assert merged["split"].notna().all()
    assert written == card_tables(merged).strip()
