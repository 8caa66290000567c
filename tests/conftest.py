"""Shared fixtures: the domain data, a model trained once per session on its train split, an API client."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
# The contract of ../shared/taxonomy.md, written out here on purpose: code derives its label set from
# model/routing.yaml, and tests compare that against this independent copy.
TAXONOMY_IDS = (
    "login",
    "payment",
    "terminal",
    "sms",
    "site_app",
    "card",
    "agent",
    "general",
    "third_party",
    "wrong_recipient",
    "out_of_scope",
)
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def questions() -> pd.DataFrame:
    return pd.read_csv(ROOT / "datasets" / "questions.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def taxonomy_text() -> str:
    path = SHARED / "taxonomy.md"
    if not path.exists():
        pytest.skip("../shared/taxonomy.md is not beside this checkout")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def domain_artifact(tmp_path_factory, questions) -> Path:
    """The default model, trained on the train split exactly as `qrouter train` does."""
    from training.data import load_labelled
    from training.train import train_to_dir

    out = tmp_path_factory.mktemp("artifact") / "domain"
    train_df = load_labelled(ROOT / "datasets" / "questions.csv", split="train")
    train_to_dir(out, train_df)
    return out


@pytest.fixture(scope="session")
def router(domain_artifact):
    from model.router import Router

    return Router.load(domain_artifact)


@pytest.fixture(scope="session")
def test_split(questions) -> pd.DataFrame:
    return questions[questions["split"] == "test"].rename(columns={"topic": "label"}).reset_index(drop=True)
