"""Dataset exploration helpers used by notebooks/01-explore-dataset.ipynb."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.feature_selection import chi2

from model.normalize import normalize_many


def counts(df: pd.DataFrame) -> pd.DataFrame:
    """Rows by topic x lang x provider."""
    return df.pivot_table(index="topic", columns=["lang", "provider"], values="text", aggfunc="count", fill_value=0)


def lengths(df: pd.DataFrame) -> pd.DataFrame:
    """Message length in characters and words, per row."""
    return pd.DataFrame(
        {"topic": df["topic"], "lang": df["lang"], "chars": df["text"].str.len(), "words": df["text"].str.split().str.len()}
    )


def telling_ngrams(df: pd.DataFrame, top: int = 8, label_column: str = "topic") -> pd.DataFrame:
    """Per label, the word 1-2-grams most associated with it (chi-squared, one label against the rest)."""
    vec = TfidfVectorizer(analyzer="word", token_pattern=r"(?u)\b\w\w+\b", ngram_range=(1, 2), min_df=3, lowercase=False)
    x = vec.fit_transform(normalize_many(df["text"]))
    names = vec.get_feature_names_out()
    out = {}
    for label in sorted(df[label_column].unique()):
        score, _ = chi2(x, (df[label_column] == label).to_numpy())
        score = np.nan_to_num(score)
        out[label] = [names[i] for i in np.argsort(-score)[:top]]
    return pd.DataFrame(out).T.rename_axis(label_column)


def boundary_examples(raw: pd.DataFrame, per_side: int = 2, seed: int = 0) -> pd.DataFrame:
    """A few tagged examples on each side of every boundary rule (from the raw parts)."""
    tagged = raw[raw["boundary"] != ""].sample(frac=1.0, random_state=seed)
    picked = tagged.groupby(["boundary", "topic"]).head(per_side)
    return (
        picked.sort_values(["boundary", "topic"], kind="stable")
        .loc[:, ["boundary", "topic", "lang", "text"]]
        .reset_index(drop=True)
    )
