"""Load labelled text from CSV or JSON Lines, with any text and label column names."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd


class DataError(ValueError):
    """Labelled data is unusable; the message is one line naming the problem."""


def read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    try:
        if path.suffix.lower() in {".jsonl", ".ndjson"}:
            return pd.read_json(path, lines=True, dtype=False)
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read {path} as {'JSON Lines' if path.suffix.lower() == '.jsonl' else 'CSV'}: {exc}") from None


def load_labelled(
    path: str | Path,
    text_column: str = "text",
    label_column: str = "topic",
    split: str | None = None,
) -> pd.DataFrame:
    """Rows of ``path`` with columns ``text`` and ``label`` (plus the rest, e.g. ``lang``).

    ``split`` keeps only rows whose ``split`` column equals it, when the file has that column.
    """
    df = read_table(path)
    missing = [c for c in (text_column, label_column) if c not in df.columns]
    if missing:
        raise DataError(f"{path}: no column {', '.join(map(repr, missing))}; columns are {', '.join(map(str, df.columns))}")
    if split and "split" in df.columns:
        df = df[df["split"] == split]
        if df.empty:
            raise DataError(f"{path}: no rows with split == {split!r}")
    df = df.rename(columns={text_column: "text", label_column: "label"}).reset_index(drop=True)
    df["text"] = df["text"].fillna("").astype(str)
    labels = df["label"].fillna("").astype(str).str.strip()
    if (labels == "").any():
        rows = (labels[labels == ""].index[:5] + 2).tolist()
        raise DataError(f"{path}: {int((labels == '').sum())} rows have an empty label (e.g. lines {rows})")
    df["label"] = labels
    blank = df["text"].str.strip() == ""
    if blank.any():
        raise DataError(f"{path}: {int(blank.sum())} rows have an empty text (e.g. lines {(df.index[blank][:5] + 2).tolist()})")
    return df


def check_trainable(df: pd.DataFrame, name: str = "training data") -> None:
    counts = df["label"].value_counts()
    if len(counts) < 2:
        raise DataError(f"{name} has a single class ({counts.index[0]!r}); a classifier needs at least two")


def data_sha256(df: pd.DataFrame) -> str:
    """A hash of exactly the (text, label) rows a model was fitted on, independent of file layout."""
    h = hashlib.sha256()
    for text, label in zip(df["text"], df["label"]):
        h.update(text.encode("utf-8") + b"\x1f" + label.encode("utf-8") + b"\x1e")
    return h.hexdigest()
