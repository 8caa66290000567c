"""API load benchmark on loopback: requests/s and p50/p99 latency at several concurrency levels.

Starts ``qrouter serve`` (uvicorn, one worker per core) on a free 127.0.0.1 port, then for each level
runs wrk (if installed: `apt-get install wrk`; else a bounded asyncio httpx client) for a fixed time against ``POST /v1/route`` (real domain messages,
rotating) and against ``GET /healthz`` (the framework's floor). Every loop is bounded in count and
time and the server is stopped at the end. The client shares the machine's cores with the server.

    python -m benchmarks.load_bench --model artifacts/default --out reports/bench
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from service.localserver import local_server


async def run_level(base: str, path: str, concurrency: int, seconds: float, texts: list[str], max_requests: int) -> dict:
    latencies: list[float] = []
    errors = 0
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    counter = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker(k: int) -> None:
            nonlocal errors, counter
            i = k
            while time.perf_counter() < deadline and counter < max_requests:
                counter += 1
                t0 = time.perf_counter()
                try:
                    if path == "/healthz":
                        r = await client.get(path)
                    else:
                        r = await client.post(path, json={"text": texts[i % len(texts)]})
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    if r.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - t0)
                i += concurrency

        start = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    return {
        "path": path,
        "concurrency": concurrency,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "errors": errors,
        "statuses": statuses,
    }


def _ms(value: str) -> float:
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", value.strip())
    return round(float(m.group(1)) * units[m.group(2)], 2)


def run_level_wrk(base: str, path: str, concurrency: int, seconds: float, bodies: Path) -> dict:
    """One level with wrk (C, epoll): far lighter than a Python client on a 2-core machine."""
    cmd = ["wrk", f"-t{min(2, concurrency)}", f"-c{concurrency}", f"-d{int(seconds)}s", "--latency", "--timeout", "10s"]
    if path != "/healthz":
        cmd += ["-s", str(Path(__file__).with_name("route.lua"))]
    out = subprocess.run(
        [*cmd, base + path], capture_output=True, text=True, env={**os.environ, "QR_BODIES": str(bodies)}, timeout=seconds + 60
    ).stdout
    dist = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, flags=re.M))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {
        "path": path,
        "concurrency": concurrency,
        "seconds": seconds,
        "requests": total,
        "rps": round(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))),
        "p50_ms": _ms(dist["50"]),
        "p99_ms": _ms(dist["99"]),
        "errors": errors,
        "client": "wrk",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("artifacts/default"))
    ap.add_argument("--data", type=Path, default=Path("datasets/questions.csv"))
    ap.add_argument("--out", type=Path, default=Path("reports/bench"))
    ap.add_argument("--levels", default="1,8,32,64")
    ap.add_argument("--seconds", type=float, default=10.0, help="per level")
    ap.add_argument("--soak-seconds", type=float, default=60.0, help="the 64-client /v1/route run")
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()
    texts = pd.read_csv(args.data, dtype=str, keep_default_na=False)["text"].tolist()
    results = []
    with local_server(args.model, workers=args.workers) as base:
        asyncio.run(run_level(base, "/v1/route", 8, 2, texts, 10_000))  # warm-up
        use_wrk = shutil.which("wrk") is not None
        bodies = args.out / "route-bodies.jsonl"
        args.out.mkdir(parents=True, exist_ok=True)
        bodies.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
        for level in [int(x) for x in args.levels.split(",")]:
            for path in ("/healthz", "/v1/route"):
                secs = args.soak_seconds if (path == "/v1/route" and level == 64) else args.seconds
                if use_wrk:
                    r = run_level_wrk(base, path, level, secs, bodies)
                else:  # fallback: a bounded asyncio httpx client (itself CPU-heavy; figures are a lower bound)
                    r = asyncio.run(run_level(base, path, level, secs, texts, max_requests=2_000_000))
                results.append(r)
                print(json.dumps(r), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps({"cores": os.cpu_count(), "results": results}, indent=2) + "\n")
    lines = [
        "| clients | /healthz req/s | p50 ms | p99 ms | /v1/route req/s | p50 ms | p99 ms | errors (route, s) |",
        "|---" * 8 + "|",
    ]
    for level in sorted({r["concurrency"] for r in results}):
        h = next(r for r in results if r["concurrency"] == level and r["path"] == "/healthz")
        v = next(r for r in results if r["concurrency"] == level and r["path"] == "/v1/route")
        lines.append(
            f"| {level} | {h['rps']} | {h['p50_ms']} | {h['p99_ms']} | {v['rps']} | {v['p50_ms']} | {v['p99_ms']} | {v['errors']} in {v['seconds']} s |"
        )
    (args.out / "load.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
