"""Notebooks are committed clean and run headless (papermill) on every `make test` / `make notebooks`."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NB_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))


def test_there_are_the_two_notebooks():
    assert [p.name for p in NOTEBOOKS] == ["01-explore-dataset.ipynb", "02-retrain.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; clear them before committing"
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), "no papermill parameters cell"


def run(path: Path, out: Path, **params) -> nbformat.NotebookNode:
    import papermill

    papermill.execute_notebook(str(path), str(out), parameters=params, cwd=str(NB_DIR), kernel_name="python3", progress_bar=False)
    return nbformat.read(out, as_version=4)


@pytest.mark.notebooks
def test_explore_notebook_runs(tmp_path):
    nb = run(NB_DIR / "01-explore-dataset.ipynb", tmp_path / "01.ipynb", TOP_NGRAMS=5)
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 2


@pytest.mark.notebooks
def test_retrain_notebook_saves_an_artifact_the_service_serves(tmp_path, domain_artifact):
    from fastapi.testclient import TestClient

    from service.api import create_app
    from service.settings import Settings

    extra = tmp_path / "corrections.csv"
    extra.write_text("text,topic\nпишет ошибка 0x80 в кипере при запуске,site_app\n", encoding="utf-8")
    out_dir = tmp_path / "candidate"
    nb = run(
        NB_DIR / "02-retrain.ipynb", tmp_path / "02.ipynb",
        EXTRA=str(extra), SERVED_MODEL=str(domain_artifact), OUT_DIR=str(out_dir), REPORT_DIR=str(tmp_path / "rep"), SAVE=True,
    )
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "test messages changed their answer" in text and "saved" in text
    with TestClient(create_app(Settings(model_dir=out_dir))) as client:
        assert client.get("/readyz").json()["status"] == "ready"
        assert client.post("/v1/route", json={"text": "терминал съел деньги"}).json()["topic"] == "terminal"
