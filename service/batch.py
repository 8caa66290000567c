"""Classify a CSV or JSON Lines export in chunks: every input row and column kept, in order, unchanged.

Encoding (UTF-8, UTF-8 with BOM, cp1251, ...) is detected with charset-normalizer and the separator
(``,`` ``;`` tab) with ``csv.Sniffer``; cells are read as text, so ``007``, ``1 000,50`` and dates come
out exactly as they went in. Output is written to a temporary file beside the target and renamed
into place only when the whole input has been read, so a failed run leaves no partial output.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from model.router import Router

# the columns route_frame appends, in order, with their dtypes (the dask engine's meta uses them too)
RESULT_DTYPES = {
    "topic": object,
    "confidence": float,
    "cannot_handle": bool,
    "reason": object,
    "provider": object,
    "channel": object,
}
RESULT_COLUMNS = tuple(RESULT_DTYPES)
SAMPLE_BYTES = 1 << 16
SEPARATOR_CANDIDATES = (",", ";", "\t", "|")
SEPARATORS = {",": ",", ";": ";", "tab": "\t", "\\t": "\t", "\t": "\t", "|": "|"}


class BatchError(ValueError):
    """The batch cannot run; the message is one line naming the problem."""


@dataclass
class Summary:
    rows: int = 0
    empty: int = 0
    cannot_handle: int = 0
    topics: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    encoding: str = ""
    sep: str = ""

    def add(self, out: pd.DataFrame, prefix: str) -> None:
        self.rows += len(out)
        reason = out[f"{prefix}reason"]
        self.empty += int((reason == "empty_text").sum())
        self.cannot_handle += int(out[f"{prefix}cannot_handle"].sum())
        self.topics.update(t for t in out[f"{prefix}topic"] if t)

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "empty_rows": self.empty,
            "cannot_handle": self.cannot_handle,
            "topics": dict(self.topics.most_common()),
            "seconds": round(self.seconds, 2),
            "rows_per_second": round(self.rows / self.seconds) if self.seconds else None,
            "encoding": self.encoding,
            "sep": self.sep,
        }


def detect_encoding(sample: bytes) -> str:
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if b"\x00" in sample:
        raise BatchError("input looks binary (it contains NUL bytes), not a CSV or JSON Lines text file")
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3:  # a multi-byte character cut by the sample's end
            return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(sample, cp_isolation=["cp1251", "koi8_r", "koi8_u", "cp1252", "utf_16", "latin_1"]).best()
    if best is None:
        raise BatchError("cannot tell the input's text encoding; pass --encoding (e.g. cp1251)")
    return best.encoding


def _records(text_sample: str, sep: str) -> list[list[str]]:
    """The complete records of a sample (quoted cells may hold separators and line breaks); the last
    record, which the end of the sample may have cut, is left out."""
    rows: list[list[str]] = []
    with contextlib.suppress(csv.Error):  # a quoted cell cut by the end of the sample: keep the records before it
        for row in csv.reader(io.StringIO(text_sample, newline=""), delimiter=sep):
            rows.append(row)
    return [r for r in rows[:-1] if r]


def sniff_separator(text_sample: str) -> str:
    """The separator that splits the header and every complete record of the sample into the same number
    of cells (more than one); of several, the one giving the most cells. ``csv.Sniffer`` only when none
    does: it guesses from the characters around quotes and their frequencies, and chose "," for a ";"
    export whose messages hold commas and quoted words."""
    consistent = {}
    for sep in SEPARATOR_CANDIDATES:
        rows = _records(text_sample, sep)
        if rows and len(rows[0]) > 1 and all(len(r) == len(rows[0]) for r in rows):
            consistent[sep] = len(rows[0])
    if consistent:
        return max(consistent, key=consistent.get)  # ties: the earlier candidate
    try:
        return csv.Sniffer().sniff(text_sample, delimiters="".join(SEPARATOR_CANDIDATES)).delimiter
    except csv.Error:
        header = text_sample.splitlines()[0] if text_sample else ""
        counts = {s: header.count(s) for s in SEPARATOR_CANDIDATES}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _is_jsonl(path: Path, text_sample: str) -> bool:
    return path.suffix.lower() in {".jsonl", ".ndjson"} or text_sample.lstrip().startswith("{")


class _Counting(io.RawIOBase):
    """A byte stream that remembers how much it has read (for progress by bytes)."""

    def __init__(self, fh):
        self.fh, self.pos = fh, 0

    def readable(self):
        return True

    def readinto(self, b):
        n = self.fh.readinto(b)
        self.pos += n or 0
        return n


@dataclass(frozen=True)
class Source:
    """What one read of the input's first bytes told: encoding, separator, format, bytes per row."""

    path: Path
    encoding: str
    sep: str
    jsonl: bool
    row_bytes: float


def read_chunks(
    path: Path, encoding: str, sep: str | None, chunk_size: int, progress: Callable[[int], None] | None = None
) -> tuple[Iterator[pd.DataFrame], Source]:
    """(chunks, source); cells as strings, nothing converted or dropped."""
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    if not sample.strip():
        raise BatchError(f"{path} is empty")
    enc = detect_encoding(sample) if encoding in ("auto", "", None) else encoding
    try:
        enc = codecs.lookup(enc).name if enc != "utf-8-sig" else enc
        text_sample = sample.decode(enc, errors="ignore")
    except (LookupError, ValueError, TypeError):
        raise BatchError(f"unknown encoding {encoding!r}") from None
    jsonl = _is_jsonl(path, text_sample)
    if jsonl:
        sep_used = ""
    elif sep in (None, "", "auto"):
        sep_used = sniff_separator(text_sample)
    else:
        sep_used = SEPARATORS.get(sep, sep)

    def gen() -> Iterator[pd.DataFrame]:
        raw = open(path, "rb")
        counting = _Counting(raw)
        stream = io.TextIOWrapper(io.BufferedReader(counting, 1 << 20), encoding=enc, newline="")
        try:
            if jsonl:
                reader = pd.read_json(stream, lines=True, chunksize=chunk_size, dtype=False)
            else:
                reader = pd.read_csv(
                    stream,
                    sep=sep_used,
                    dtype=str,
                    keep_default_na=False,
                    na_filter=False,
                    chunksize=chunk_size,
                    engine="c",
                    skip_blank_lines=False,
                )
            for chunk in reader:
                if progress:
                    progress(counting.pos)
                yield chunk
        except UnicodeDecodeError as exc:
            raise BatchError(f"{path} is not valid {enc} text (byte {exc.start} of a block); pass --encoding") from None
        except (pd.errors.ParserError, ValueError) as exc:
            raise BatchError(f"cannot parse {path}: {str(exc).splitlines()[0]}") from None
        finally:
            stream.close()

    return gen(), Source(path, enc, sep_used, jsonl, row_bytes=len(sample) / max(1, sample.count(b"\n")))


def route_frame(
    router: Router,
    chunk: pd.DataFrame,
    text_column: str,
    provider_column: str | None,
    prefix: str,
    default_provider: str | None = None,
) -> pd.DataFrame:
    """``chunk`` with the result columns appended; input columns untouched."""
    texts = ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in chunk[text_column].tolist()]
    providers: list[str | None] | None = None
    if provider_column:
        known = set(router.routing.providers)
        providers = [str(v).strip().lower() if str(v).strip().lower() in known else None for v in chunk[provider_column].tolist()]
    d = router.decide(texts, providers, default_provider=default_provider)
    cannot = d.cannot_handle
    out = chunk.copy()
    out[f"{prefix}topic"] = [t or "" for t in d.topic]
    out[f"{prefix}confidence"] = [round(c, 4) for c in d.confidence]
    out[f"{prefix}cannot_handle"] = cannot
    out[f"{prefix}reason"] = [r or "" for r in d.reason]
    out[f"{prefix}provider"] = [p or "" for p in d.provider]
    out[f"{prefix}channel"] = [router.first_channel(t, p, c) or "" for t, p, c in zip(d.topic, d.provider, cannot)]
    return out


def check_columns(columns: list[str], text_column: str, provider_column: str | None, prefix: str) -> None:
    if text_column not in columns:
        raise BatchError(f"no text column {text_column!r}; columns are: {', '.join(map(str, columns))} (use --text-column)")
    if provider_column and provider_column not in columns:
        raise BatchError(f"no provider column {provider_column!r}; columns are: {', '.join(map(str, columns))}")
    clash = [f"{prefix}{c}" for c in RESULT_COLUMNS if f"{prefix}{c}" in columns]
    if clash:
        raise BatchError(
            f"input already has column(s) {', '.join(clash)}; pass --prefix (e.g. --prefix qr_) to name the results apart"
        )


def classify_file(
    router: Router | Callable[[], Router],
    input_path: str | Path,
    output_path: str | Path,
    *,
    text_column: str = "text",
    provider_column: str | None = None,
    encoding: str = "auto",
    sep: str | None = "auto",
    chunk_size: int = 50_000,
    prefix: str = "",
    excel: bool = False,
    engine: str = "pandas",
    scheduler: str | None = None,
    model_dir: str | Path | None = None,
    default_provider: str | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> Summary:
    """Classify ``input_path`` into ``output_path`` (CSV, UTF-8) atomically; returns the run summary.

    ``progress(rows_done, bytes_read, bytes_total)`` is called after every chunk.
    """
    src, dst = Path(input_path), Path(output_path)
    if not src.is_file():
        raise BatchError(f"input file not found: {src}")
    if dst.exists() and dst.resolve() == src.resolve():
        raise BatchError("refusing to overwrite the input file; choose another --out")
    if chunk_size < 1:
        raise BatchError("--chunk-size must be at least 1")
    total = src.stat().st_size
    state = {"bytes": 0}
    chunks, source = read_chunks(src, encoding, sep, chunk_size, lambda b: state.__setitem__("bytes", b))
    summary = Summary(encoding=source.encoding, sep=source.sep)
    start = time.perf_counter()
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig" if excel else "utf-8", newline="") as out:
            if engine == "dask":
                from service.distributed import route_on_dask

                blocksize = max(16_384, int(chunk_size * source.row_bytes))
                routed = route_on_dask(
                    source,
                    blocksize,
                    chunks,
                    model_dir,
                    text_column,
                    provider_column,
                    prefix,
                    default_provider,
                    scheduler,
                    check_columns,
                )
            elif engine == "pandas":
                get_router = router if callable(router) and not isinstance(router, Router) else (lambda: router)

                def routed_gen():
                    r = None
                    for chunk in chunks:
                        check_columns([str(c) for c in chunk.columns], text_column, provider_column, prefix)
                        r = r or get_router()
                        yield route_frame(r, chunk, text_column, provider_column, prefix, default_provider)

                routed = routed_gen()
            else:
                raise BatchError(f"unknown engine {engine!r}; use pandas or dask")
            header = True
            for part in routed:
                part.to_csv(out, index=False, header=header, lineterminator="\n")
                header = False
                summary.add(part, prefix)
                if progress:
                    progress(summary.rows, state["bytes"], total)
            if header:
                raise BatchError(f"{src} has no header row")
        summary.seconds = time.perf_counter() - start
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return summary
