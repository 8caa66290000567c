"""Service settings, read from ``QROUTER_*`` environment variables (and a ``.env`` file if present)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL_DIR = Path("artifacts/default")
DEFAULT_DATA = Path("datasets/questions.csv")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QROUTER_", env_file=".env", extra="ignore")

    model_dir: Path = Field(DEFAULT_MODEL_DIR, description="artifact directory the service loads")
    routing_path: Path | None = Field(None, description="routing table YAML; the packaged one when unset")
    default_provider: Literal["qiwi", "webmoney"] | None = Field(
        None, description="provider when neither request nor text names one"
    )
    max_text_length: int = Field(5000, ge=1)
    max_batch_items: int = Field(1000, ge=1)
    max_body_bytes: int = Field(2_000_000, ge=1024, description="largest JSON body accepted")
    max_upload_bytes: int = Field(50_000_000, ge=1024, description="largest CSV upload accepted")
    log_level: str = "INFO"
    api_key: str | None = Field(None, description="when set, admin routes need it in the X-API-Key header")


@lru_cache
def get_settings() -> Settings:
    return Settings()
