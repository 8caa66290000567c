"""Route a batch on a Dask cluster (dask.distributed): a LocalCluster by default, or an existing scheduler.

Two ways to partition, both routed by the same ``route_frame`` with a Router loaded once per worker
process from the shared model directory, results collected in input order with a bounded number in
flight, so the output is byte-identical to the pandas engine's:

- ``dask.dataframe`` (``dd.read_csv`` with a blocksize, ``map_partitions``): workers read their own byte
  ranges of the input from shared storage. Used for CSV files that contain no quote character at all,
  the only case where a line break always ends a row and byte-range partitions cannot split a cell.
- otherwise (quoted cells that may hold line breaks, JSON Lines, non-ASCII-compatible encodings) the
  client parses the file with the pandas engine's reader and workers route the chunks it sends.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from service.batch import RESULT_DTYPES, Source

_ROUTERS: dict[str, object] = {}
_BYTE_SAFE = {"utf-8", "utf-8-sig", "cp1251", "cp1252", "koi8-r", "koi8-u", "latin-1", "iso8859-1", "iso8859-5", "ascii"}


def _route_on_worker(
    chunk: pd.DataFrame, model_dir: str, text_column: str, provider_column: str | None, prefix: str, default_provider: str | None
) -> pd.DataFrame:
    from model.router import Router
    from service.batch import route_frame

    router = _ROUTERS.get(model_dir)
    if router is None:
        router = _ROUTERS[model_dir] = Router.load(model_dir)
    return route_frame(router, chunk, text_column, provider_column, prefix, default_provider)


def has_no_quotes(path: Path, encoding: str, block: int = 1 << 23) -> bool:
    """True when the file has no '"' byte at all (a full scan: 0.35 s/GB measured from the page cache) in an
    ASCII-compatible encoding."""
    if encoding.lower().replace("_", "-") not in _BYTE_SAFE:
        return False
    with open(path, "rb") as fh:
        while data := fh.read(block):
            if b'"' in data:
                return False
    return True


def _ordered(futures: Iterator, window: int) -> Iterator[pd.DataFrame]:
    pending: deque = deque()
    for fut in futures:
        pending.append(fut)
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def route_on_dask(
    source: Source,
    blocksize: int,
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
    """Routed frames in input order. ``source`` describes the file; ``blocksize`` is the byte size of a
    dask.dataframe partition; ``chunks`` is the client-side reader, used when byte ranges are not safe."""
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    if model_dir is None:
        raise ValueError("the dask engine needs the model directory (workers load the model from it)")
    model_dir = str(Path(model_dir).resolve())
    args = (model_dir, text_column, provider_column, prefix, default_provider)
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="20s")
    else:
        cluster = LocalCluster(n_workers=n_workers or 2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        window = max(2, 2 * len(client.scheduler_info().get("workers", {})))
        path = Path(source.path).resolve()
        if not source.jsonl and has_no_quotes(path, source.encoding):
            ddf = dd.read_csv(
                str(path), sep=source.sep, encoding=source.encoding, dtype=str, keep_default_na=False,
                na_filter=False, skip_blank_lines=False, blocksize=blocksize,
            )  # fmt: skip
            check_columns([str(c) for c in ddf.columns], text_column, provider_column, prefix)
            meta = ddf._meta.assign(**{f"{prefix}{c}": pd.Series(dtype=t) for c, t in RESULT_DTYPES.items()})
            routed = ddf.map_partitions(_route_on_worker, *args, meta=meta)
            futures = (client.compute(routed.partitions[i]) for i in range(routed.npartitions))
        else:

            def submitted():
                for chunk in chunks:
                    check_columns([str(c) for c in chunk.columns], text_column, provider_column, prefix)
                    yield client.submit(_route_on_worker, chunk, *args, pure=False)

            futures = submitted()
        yield from _ordered(futures, window)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
