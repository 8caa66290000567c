"""Build ``datasets/questions.csv`` from the hand-written raw parts in ``datasets/raw/``.

Raw parts are immutable inputs (cookiecutter-data-science): tab-separated files named after their
topic, ``datasets/raw/<topic>.tsv`` or ``datasets/raw/<topic>.<part>.tsv``, with the header ``lang<TAB>provider<TAB>boundary<TAB>text``.
``text`` is the last field, so it may hold anything but a tab; a literal ``\\n`` in it stands for a
line break (multi-line e-mails). ``boundary`` is empty or ``r1``..``r6``: the boundary rule of
``taxonomy.md`` the row illustrates (the side is the row's topic).

This module derives the published file: it validates every part, drops nothing silently, and assigns
a deterministic ``split`` (about 20 % ``test``, stratified by topic x lang, drawn within each writing
round so that a new round of parts never moves an earlier row between train and test).

    python -m training.build_dataset            # validate all parts and write datasets/questions.csv
    python -m training.build_dataset --check datasets/raw/login.tsv   # validate one part, print stats
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from model.routing import load_routing_table

TOPICS = tuple(load_routing_table().topics)  # the label set, in taxonomy order, from model/routing.yaml
PROVIDERS = ("qiwi", "webmoney", "none")
LANGS = ("ru", "uk", "en", "translit")
# rule -> the two topics on its sides (taxonomy.md, "Boundary rules")
BOUNDARY_RULES = {
    "r1": ("login", "sms"),
    "r2": ("terminal", "agent"),
    "r3": ("site_app", "login"),
    "r4": ("payment", "third_party"),
    "r5": ("payment", "wrong_recipient"),
    "r6": ("card", "payment"),
}
COLUMNS = ("text", "topic", "provider", "lang", "round", "split")
TEST_SIZE = 0.2
SEED = 20261122
NEAR_DUP_JACCARD = 0.8

ROOT = Path(__file__).resolve().parent.parent
RAW_DIR = ROOT / "datasets" / "raw"
OUT_PATH = ROOT / "datasets" / "questions.csv"


class RawDataError(ValueError):
    """A raw part breaks the format; the message names the file and line."""


def fold(text: str) -> str:
    """The key duplicates are compared on: case folded, whitespace collapsed."""
    return " ".join(text.casefold().split())


def writing_round(path: Path) -> int:
    """Round 1 is the first release (parts named ``<topic>.tsv``, ``<topic>.<lang>.tsv``, ``.b2``,
    ``.tl2``); later rounds are named ``<topic>.b<N>[suffix].tsv`` with N >= 3."""
    m = re.match(r"[^.]+\.b(\d+)", path.name)
    return int(m.group(1)) if m and int(m.group(1)) >= 3 else 1


def read_part(path: Path) -> pd.DataFrame:
    topic = path.name.split(".", 1)[0]
    if topic not in TOPICS:
        raise RawDataError(f"{path}: file name must be a topic id, one of {', '.join(TOPICS)}")
    rows = []
    with path.open(encoding="utf-8", newline="") as fh:
        header = fh.readline().rstrip("\r\n").split("\t")
        if header != ["lang", "provider", "boundary", "text"]:
            raise RawDataError(f"{path}:1: header must be lang<TAB>provider<TAB>boundary<TAB>text")
        for lineno, line in enumerate(fh, start=2):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("\t", 3)
            if len(parts) != 4:
                raise RawDataError(f"{path}:{lineno}: expected 4 tab-separated fields, got {len(parts)}")
            lang, provider, boundary, text = (p.strip() for p in parts)
            text = text.replace("\\n", "\n").strip()
            if lang not in LANGS:
                raise RawDataError(f"{path}:{lineno}: lang {lang!r} not in {LANGS}")
            if provider not in PROVIDERS:
                raise RawDataError(f"{path}:{lineno}: provider {provider!r} not in {PROVIDERS}")
            if boundary and (boundary not in BOUNDARY_RULES or topic not in BOUNDARY_RULES[boundary]):
                raise RawDataError(f"{path}:{lineno}: boundary {boundary!r} is not a rule with {topic!r} on a side")
            if not text:
                raise RawDataError(f"{path}:{lineno}: empty text")
            rows.append({"text": text, "topic": topic, "provider": provider, "lang": lang, "boundary": boundary})
    df = pd.DataFrame(rows, columns=["text", "topic", "provider", "lang", "boundary"])
    df["round"] = writing_round(path)
    return df


def read_raw(raw_dir: Path = RAW_DIR) -> pd.DataFrame:
    parts = sorted(raw_dir.glob("*.tsv"))
    if not parts:
        raise RawDataError(f"no raw parts (*.tsv) in {raw_dir}")
    return pd.concat([read_part(p) for p in parts], ignore_index=True)


def char_shingles(text: str, n: int = 5) -> frozenset[str]:
    t = fold(text)
    if len(t) < n:
        return frozenset({t})
    return frozenset(t[i : i + n] for i in range(len(t) - n + 1))


def near_duplicate_pairs(texts: list[str], threshold: float = NEAR_DUP_JACCARD) -> list[tuple[int, int, float]]:
    """Pairs (i, j, jaccard) of texts whose character 5-gram Jaccard similarity is >= threshold.

    Uses a sparse binary shingle matrix so that all pairs of a few thousand texts take well under a second.
    """
    from scipy import sparse

    sets = [char_shingles(t) for t in texts]
    vocab: dict[str, int] = {}
    indptr, indices = [0], []
    for s in sets:
        indices.extend(vocab.setdefault(g, len(vocab)) for g in s)
        indptr.append(len(indices))
    m = sparse.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(sets), len(vocab)))
    inter = (m @ m.T).tocoo()
    sizes = np.diff(m.indptr)
    out = []
    for i, j, v in zip(inter.row, inter.col, inter.data):
        if i < j:
            jac = v / (sizes[i] + sizes[j] - v)
            if jac >= threshold:
                out.append((int(i), int(j), float(jac)))
    return out


def problems(df: pd.DataFrame, show_pairs: bool = False) -> list[str]:
    """Everything that would make the data card or data tests fail, as readable lines
    (with ``show_pairs``, also every near-duplicate pair, for a writer to fix)."""
    out = []
    folded = df["text"].map(fold)
    dups = folded[folded.duplicated(keep=False)]
    for key, idx in dups.groupby(dups).groups.items():
        out.append(f"duplicate text (after folding case/spaces) x{len(idx)}: {key[:80]!r}")
    for topic, grp in df.groupby("topic"):
        texts = grp["text"].tolist()
        pairs = near_duplicate_pairs(texts)
        n_pairs = len(texts) * (len(texts) - 1) // 2
        share = len(pairs) / n_pairs if n_pairs else 0.0
        if share >= 0.005:
            out.append(f"{topic}: near-duplicate pairs {len(pairs)} = {share:.3%} of pairs (limit 0.5 %)")
        for i, j, jac in pairs[:20] if show_pairs else ():
            out.append(f"  near-dup {jac:.2f}: {texts[i][:60]!r} ~ {texts[j][:60]!r}")
    return out


def stats(df: pd.DataFrame) -> str:
    lines = [f"rows: {len(df)}"]
    lines.append("by topic x lang:\n" + pd.crosstab(df["topic"], df["lang"], margins=True).to_string())
    lines.append("by topic x provider:\n" + pd.crosstab(df["topic"], df["provider"], margins=True).to_string())
    b = df[df["boundary"] != ""]
    if len(b):
        lines.append("boundary rows (rule x topic):\n" + pd.crosstab(b["boundary"], b["topic"]).to_string())
    named = (df["provider"] != "none").mean()
    lines.append(
        f"provider named: {named:.1%}; lang shares: "
        + ", ".join(f"{k} {v:.1%}" for k, v in df["lang"].value_counts(normalize=True).items())
    )
    return "\n".join(lines)


CARD_PATH = ROOT / "datasets" / "README.md"
CARD_START, CARD_END = "<!-- counts:start (written by python -m training.build_dataset) -->", "<!-- counts:end -->"


def _md(table: pd.DataFrame) -> str:
    cols = [str(c) for c in table.columns]
    lines = ["| " + " | ".join([table.index.name or "", *cols]) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += ["| " + " | ".join([str(i), *(str(v) for v in row)]) + " |" for i, row in zip(table.index, table.to_numpy())]
    return "\n".join(lines)


def card_tables(df: pd.DataFrame) -> str:
    """The data card's count tables, derived from the data (raw parts, so boundary tags are known)."""
    tagged = df[df["boundary"] != ""]
    rules = pd.crosstab(tagged["boundary"], tagged["topic"]).rename_axis(index="rule", columns=None)
    shares = df["lang"].value_counts(normalize=True)
    return "\n\n".join(
        [
            f"Rows: {len(df)} ({int((df['split'] == 'test').sum())} test). Provider named in "
            f"{(df['provider'] != 'none').mean():.1%} of rows. Language shares: "
            + ", ".join(f"{k} {shares[k]:.1%}" for k in LANGS)
            + ".",
            "Topic x language:\n\n"
            + _md(
                pd.crosstab(df["topic"], df["lang"], margins=True, margins_name="all").rename_axis(index="topic", columns=None)
            ),
            "Topic x provider:\n\n"
            + _md(
                pd.crosstab(df["topic"], df["provider"], margins=True, margins_name="all").rename_axis(
                    index="topic", columns=None
                )
            ),
            "Topic x split:\n\n" + _md(pd.crosstab(df["topic"], df["split"]).rename_axis(index="topic", columns=None)),
            "Boundary-rule examples (rule x topic; see `raw/GUIDE.md`):\n\n" + _md(rules),
        ]
    )


def write_card_tables(df: pd.DataFrame, path: Path = CARD_PATH) -> None:
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(CARD_START, 1)
    _, tail = rest.split(CARD_END, 1)
    path.write_text(f"{head}{CARD_START}\n{card_tables(df)}\n{CARD_END}{tail}", encoding="utf-8")


def assign_split(df: pd.DataFrame, test_size: float = TEST_SIZE, seed: int = SEED) -> pd.Series:
    """``test`` for ``test_size`` of each writing round, stratified by topic x lang within the round:
    adding a round never moves an earlier row between train and test."""
    split = pd.Series("train", index=df.index)
    rounds = df["round"] if "round" in df else pd.Series(1, index=df.index)
    for _, part in df.groupby(rounds, sort=True):
        strata = part["topic"] + "|" + part["lang"]
        _, test_idx = train_test_split(part.index, test_size=test_size, random_state=seed, stratify=strata)
        split[test_idx] = "test"
    return split


def build(raw_dir: Path = RAW_DIR, out_path: Path = OUT_PATH) -> pd.DataFrame:
    df = read_raw(raw_dir)
    found = problems(df)
    if found:
        raise RawDataError("raw data has problems:\n" + "\n".join(found))
    df["split"] = assign_split(df)
    df = df.sort_values(["topic", "split", "lang"], kind="stable").reset_index(drop=True)
    tmp = out_path.with_suffix(".csv.tmp")
    df.loc[:, list(COLUMNS)].to_csv(tmp, index=False, encoding="utf-8", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    tmp.replace(out_path)
    if CARD_PATH.exists():
        write_card_tables(df)
    return df


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", nargs="+", type=Path, help="validate these raw parts only and print their stats")
    ap.add_argument("--raw-dir", type=Path, default=RAW_DIR)
    ap.add_argument("--out", type=Path, default=OUT_PATH)
    args = ap.parse_args(argv)
    try:
        if args.check:
            df = pd.concat([read_part(p) for p in args.check], ignore_index=True)
            print(stats(df))
            found = problems(df, show_pairs=True)
            print("\n".join(found) if found else "OK: no duplicates, near-duplicates under the limit")
            return 1 if found else 0
        df = build(args.raw_dir, args.out)
    except RawDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(stats(df))
    print(f"wrote {args.out} ({len(df)} rows, {int((df['split'] == 'test').sum())} test)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
