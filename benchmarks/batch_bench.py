"""Batch benchmark: rows/s and peak memory of `qrouter classify` on generated exports.

Generates Excel-style exports (cp1251, `;`, an id with leading zeros, a date, an amount with a decimal
comma, and messages drawn from datasets/questions.csv) of each size, then runs `qrouter classify` in a
fresh process per run and reads the peak resident memory of that process tree (the largest process:
the client, or a Dask worker) from getrusage. Shows whether memory grows with file size.

    python -m benchmarks.batch_bench --sizes 100000,1000000 --out reports/bench
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_export(path: Path, rows: int, data: Path, seed: int = 0, plain: bool = False) -> None:
    """``plain``: no quotes, separators or line breaks inside cells, so no cell is quoted (the case in
    which the dask engine partitions with dask.dataframe on the workers)."""
    texts = pd.read_csv(data, dtype=str, keep_default_na=False)["text"]
    if plain:
        texts = texts.str.replace(r'[";\r\n]+', " ", regex=True)
    texts = texts.to_numpy()
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="cp1251", errors="replace", newline="") as fh:
        fh.write("№;Дата;Сумма;Текст обращения\r\n")
        block = 100_000
        for start in range(0, rows, block):
            n = min(block, rows - start)
            picks = texts[rng.integers(0, len(texts), n)]
            frame = pd.DataFrame(
                {
                    "№": [f"{i:07d}" for i in range(start, start + n)],
                    "Дата": "01.02.2026",
                    "Сумма": [f"{a} {b:03d},50" for a, b in zip(rng.integers(1, 99, n), rng.integers(0, 999, n))],
                    "Текст обращения": picks,
                }
            )
            frame.to_csv(fh, sep=";", header=False, index=False, lineterminator="\r\n")


def run_classify(src: Path, out: Path, model: Path, engine: str, chunk: int) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "service.cli",
        "classify",
        str(src),
        "--out",
        str(out),
        "--model",
        str(model),
        "--text-column",
        "Текст обращения",
        "--engine",
        engine,
        "--chunk-size",
        str(chunk),
        "--no-progress",
    ]
    # a wrapper process per run, so its RUSAGE_CHILDREN covers exactly this run's process tree
    wrapper = (
        "import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(p.returncode)"
    )
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    lines = proc.stderr.strip().splitlines()
    if proc.returncode != 0:
        raise SystemExit(f"classify failed: {lines[-2] if len(lines) > 1 else proc.stderr}")
    peak_kb = int(lines[-1])
    proc.stderr = "\n".join(lines[:-1])
    summary = json.loads(proc.stderr.strip().splitlines()[-1])
    return {
        "seconds": round(seconds, 1),
        "rows_per_s": round(summary["rows"] / seconds),
        "rows": summary["rows"],
        "peak_rss_mb": round(peak_kb / 1024),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("artifacts/default"))
    ap.add_argument("--data", type=Path, default=Path("datasets/questions.csv"))
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--engines", default="pandas,dask")
    ap.add_argument("--chunk-size", type=int, default=50_000)
    ap.add_argument("--plain", action="store_true", help="quote-free exports (dask reads byte ranges on workers)")
    ap.add_argument("--work", type=Path, default=Path("reports/bench/batch-work"))
    ap.add_argument("--out", type=Path, default=Path("reports/bench"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        src = args.work / f"export-{size}{'-plain' if args.plain else ''}.csv"
        if not src.exists():
            make_export(src, size, args.data, plain=args.plain)
        for engine in args.engines.split(","):
            # a fresh process per run; the largest process's peak RSS is what ru_maxrss reports
            r = run_classify(src, args.work / f"out-{size}-{engine}.csv", args.model, engine, args.chunk_size)
            r.update(size=size, engine=engine, input_mb=round(src.stat().st_size / 1e6, 1), quotes=not args.plain)
            results.append(r)
            print(json.dumps(r), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    name = "batch-plain" if args.plain else "batch"
    (args.out / f"{name}.json").write_text(json.dumps({"cores": os.cpu_count(), "results": results}, indent=2) + "\n")
    lines = ["| rows | input MB | engine | seconds | rows/s | peak RSS MB |", "|---" * 6 + "|"]
    lines += [
        f"| {r['size']:,} | {r['input_mb']} | {r['engine']} | {r['seconds']} | {r['rows_per_s']:,} | {r['peak_rss_mb']} |"
        for r in results
    ]
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
