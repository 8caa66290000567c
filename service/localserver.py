"""Start `qrouter serve` as a real process on a free loopback port and wait until it is ready.

Used by the real-server test and the load benchmark.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_server(model: str | Path, workers: int = 0, ready_timeout: float = 90.0) -> Iterator[str]:
    """Yields the base URL (http://127.0.0.1:PORT); the server is stopped on exit."""
    port = free_port()
    cmd = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--model", str(model), "--log-level", "warning"]  # fmt: skip
    if workers:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(
        cmd, env={**os.environ, "QROUTER_LOG_LEVEL": "WARNING"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {proc.stdout.read().decode(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready within {ready_timeout:.0f} s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
