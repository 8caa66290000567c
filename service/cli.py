"""``qrouter``: train, evaluate, classify and serve from the command line.

Exit codes: 0 success; 1 bad input or unusable data/model (one line on stderr, no traceback);
2 wrong usage (unknown option, missing argument); 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from service.settings import DEFAULT_DATA, DEFAULT_MODEL_DIR

app = typer.Typer(
    help="question-router: route payment-system support questions to a topic and the right support channels.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ModelOpt = Annotated[
    Path, typer.Option("--model", help="model artifact directory (env QROUTER_MODEL_DIR)", envvar="QROUTER_MODEL_DIR")
]


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _clean_errors(fn):
    """Known failures become one line on stderr and exit code 1; Ctrl-C exits 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from model.artifact import ArtifactError
        from model.encoder import EncoderUnavailable
        from model.routing import RoutingTableError
        from service.batch import BatchError
        from training.data import DataError

        try:
            return fn(*args, **kwargs)
        except (ArtifactError, EncoderUnavailable, RoutingTableError, BatchError, DataError) as exc:
            _fail(str(exc).splitlines()[0] if isinstance(exc, BatchError) else str(exc))
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except OSError as exc:
            _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))

    return wrapper


def _progress_printer(enabled: bool):
    """A rich progress bar on a terminal, plain log lines otherwise."""
    if sys.stderr.isatty() and enabled:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(
            TextColumn("classifying"),
            BarColumn(),
            TextColumn("{task.fields[rows]:,} rows {task.fields[rate]}"),
            TimeRemainingColumn(),
            transient=True,
        )
        task = bar.add_task("rows", total=1, rows=0, rate="")
        import time

        t0 = time.perf_counter()

        def update(rows, done, total):
            rate = rows / max(time.perf_counter() - t0, 1e-9)
            bar.update(task, completed=done, total=max(total, 1), rows=rows, rate=f"({rate:,.0f} rows/s)")

        return bar, update
    import time

    t0 = time.perf_counter()

    def log(rows, done, total):
        pct = 100 * done / total if total else 100
        typer.echo(
            f"classified {rows} rows ({pct:.0f}% of input, {rows / max(time.perf_counter() - t0, 1e-9):.0f} rows/s)", err=True
        )

    return None, log


@app.command()
@_clean_errors
def train(
    data: Annotated[
        Path, typer.Option(help="labelled CSV or JSONL; rows with split == train are used when it has a split column")
    ] = DEFAULT_DATA,
    val: Annotated[
        Path | None,
        typer.Option(help="validation CSV/JSONL for calibration and thresholds (default: k-fold cross-validation on --data)"),
    ] = None,
    text_column: Annotated[str, typer.Option(help="column holding the message")] = "text",
    label_column: Annotated[str, typer.Option(help="column holding the label")] = "topic",
    oos_label: Annotated[
        str, typer.Option(help="the out-of-scope label; low-confidence answers become it (ignored if absent from the data)")
    ] = "out_of_scope",
    out: Annotated[Path, typer.Option(help="artifact directory to write")] = DEFAULT_MODEL_DIR,
    c: Annotated[float, typer.Option("--C", help="LinearSVC regularisation strength")] = 1.0,
    seed: Annotated[int, typer.Option(help="random seed (results are deterministic for a seed)")] = 13,
    encoder: Annotated[
        str | None,
        typer.Option(
            help="add a sentence-embedding block beside TF-IDF: multilingual-e5-small (more accurate, ~15 ms per question;"
            " needs the [encoder] extra)"
        ),
    ] = None,
) -> None:
    """Fit a model, calibrate it and tune its thresholds on validation data; write an artifact."""
    from model.artifact import sha256_file
    from training.data import load_labelled
    from training.train import TrainParams, train_to_dir

    train_df = load_labelled(data, text_column, label_column, split="train")
    val_df = load_labelled(val, text_column, label_column, split="val") if val else None
    sources = {"train_file": str(data), "train_file_sha256": sha256_file(data)}
    if val:
        sources.update(val_file=str(val), val_file_sha256=sha256_file(val))
    path, manifest = train_to_dir(out, train_df, val_df, oos_label, TrainParams(C=c, seed=seed, encoder=encoder), sources)
    typer.echo(
        f"wrote {path} (model {manifest['model_version']}, {len(manifest['labels'])} labels, "
        f"{manifest['training_seconds']['total']} s)"
    )
    typer.echo("validation: " + json.dumps(manifest["metrics"]["validation"]))


@app.command()
@_clean_errors
def evaluate(
    data: Annotated[
        Path, typer.Option(help="labelled CSV or JSONL; rows with split == test are used when it has a split column")
    ],
    model: ModelOpt = DEFAULT_MODEL_DIR,
    report: Annotated[Path | None, typer.Option(help="directory for metrics.json, report.md and PNG plots")] = None,
    text_column: Annotated[str, typer.Option(help="column holding the message")] = "text",
    label_column: Annotated[str, typer.Option(help="column holding the label")] = "topic",
) -> None:
    """Score a model on held-out data: accuracy, macro-F1, per class and language, out-of-scope, calibration."""
    from model.router import Router
    from training.data import load_labelled
    from training.evaluate import evaluate as run

    df = load_labelled(data, text_column, label_column, split="test")
    router = Router.load(model)
    m = run(df, router, report)
    keys = ("rows", "accuracy", "macro_f1", "in_scope_accuracy")
    summary = {k: m[k] for k in keys if k in m}
    if "out_of_scope" in m:
        summary["oos_recall"], summary["oos_precision"] = m["out_of_scope"]["recall"], m["out_of_scope"]["precision"]
    if "cannot_handle" in m:
        summary["cannot_handle_f1"] = m["cannot_handle"]["f1"]
    typer.echo(json.dumps(summary))
    if report:
        typer.echo(f"report: {report / 'report.md'}")


@app.command()
@_clean_errors
def classify(
    input: Annotated[Path, typer.Argument(help="CSV or JSONL export to classify", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="output CSV (written atomically)", show_default=False)],
    model: ModelOpt = DEFAULT_MODEL_DIR,
    text_column: Annotated[str, typer.Option(help="column holding the message")] = "text",
    provider_column: Annotated[
        str | None, typer.Option(help="column naming each row's provider (qiwi/webmoney); others are detected")
    ] = None,
    encoding: Annotated[str, typer.Option(help="input encoding: auto, utf-8, cp1251, ...")] = "auto",
    sep: Annotated[str, typer.Option(help="separator: auto, ',', ';', tab")] = "auto",
    chunk_size: Annotated[int, typer.Option(help="rows per chunk (memory stays flat)")] = 50_000,
    engine: Annotated[str, typer.Option(help="pandas (this process) or dask (a cluster)")] = "pandas",
    scheduler: Annotated[
        str | None, typer.Option(help="dask scheduler address, e.g. tcp://host:8786 (default: a LocalCluster)")
    ] = None,
    prefix: Annotated[
        str, typer.Option(help="prefix for the result columns, needed when the input already has such a column")
    ] = "",
    excel: Annotated[bool, typer.Option("--excel", help="write UTF-8 with a BOM so Excel shows Cyrillic correctly")] = False,
    progress: Annotated[bool, typer.Option(help="progress bar on a terminal")] = True,
    threads: Annotated[int, typer.Option(min=0, help="threads scoring each chunk (default 0: every core, at most 4)")] = 0,
) -> None:
    """Add topic, confidence, cannot_handle, reason, provider and channel to every row of an export."""
    from model.router import Router
    from service.batch import classify_file

    if engine not in ("pandas", "dask"):
        _fail(f"unknown engine {engine!r}; use pandas or dask", 2)
    bar, update = _progress_printer(progress)

    def run():
        return classify_file(
            lambda: Router.load(model, threads=threads or None),
            input,
            out,
            text_column=text_column,
            provider_column=provider_column,
            encoding=encoding,
            sep=sep,
            chunk_size=chunk_size,
            prefix=prefix,
            excel=excel,
            engine=engine,
            scheduler=scheduler,
            model_dir=model,
            progress=update,
        )

    if engine == "dask":
        Router.load(model)  # fail fast, in this process, on a missing or invalid artifact
    if bar is not None:
        with bar:
            summary = run()
    else:
        summary = run()
    typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False), err=True)
    typer.echo(f"wrote {out}")


@app.command()
@_clean_errors
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on", envvar="HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port", envvar="PORT")] = 8000,
    model: ModelOpt = DEFAULT_MODEL_DIR,
    workers: Annotated[int, typer.Option(help="worker processes (default: one per core)")] = 0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the HTTP API (uvicorn) with the model loaded once per worker."""
    import uvicorn

    os.environ["QROUTER_MODEL_DIR"] = str(model)
    n = workers or (os.cpu_count() or 1)
    uvicorn.run("service.api:create_app", factory=True, host=host, port=port, workers=n, log_level=log_level, access_log=False)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
