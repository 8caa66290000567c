from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def settings(domain_artifact) -> Settings:
    return Settings(
        model_dir=domain_artifact, max_batch_items=50, max_text_length=500, max_body_bytes=100_000, max_upload_bytes=200_000
    )


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c
