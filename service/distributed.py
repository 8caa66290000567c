"""Route batch chunks on a Dask cluster (dask.distributed): a LocalCluster by default, or an existing
scheduler. The client reads the input in chunks (the same reader as the pandas engine, so awkward
exports parse identically), workers route them with a Router loaded once per worker process from
the shared model directory, and results come back in input order, a bounded number in flight, so
memory stays flat. The output is identical to the pandas engine's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

_ROUTERS: dict[str, object] = {}


def _route_on_worker(
    chunk: pd.DataFrame, model_dir: str, text_column: str, provider_column: str | None, prefix: str, default_provider: str | None
) -> pd.DataFrame:
    from model.router import Router
    from service.batch import route_frame

    router = _ROUTERS.get(model_dir)
    if router is None:
        router = _ROUTERS[model_dir] = Router.load(model_dir)
    return route_frame(router, chunk, text_column, provider_column, prefix, default_provider)


def route_chunks_on_dask(
    chunks: Iterator[pd.DataFrame],
    model_dir: str | Path | None,
    text_column: str,
    provider_column: str | None,
    prefix: str,
    default_provider: str | None,
    scheduler: str | None,
    check_columns: Callable[..., None],
    n_workers: int | None = None,
) -> Iterator[pd.DataFrame]:
    from distributed import Client, LocalCluster

    if model_dir is None:
        raise ValueError("the dask engine needs the model directory (workers load the model from it)")
    model_dir = str(Path(model_dir).resolve())
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="20s")
    else:
        cluster = LocalCluster(n_workers=n_workers or 2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        window = max(2, 2 * len(client.scheduler_info().get("workers", {})))
        pending: deque = deque()
        for chunk in chunks:
            check_columns([str(c) for c in chunk.columns], text_column, provider_column, prefix)
            pending.append(
                client.submit(
                    _route_on_worker, chunk, model_dir, text_column, provider_column, prefix, default_provider, pure=False
                )
            )
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
