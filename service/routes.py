"""API routers, one per concern: health, routing, model metadata, batch CSV."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.background import BackgroundTask

from service.api import error_body, error_response
from service.settings import Settings

ANSWERS = Counter("qrouter_answers_total", "Routing answers by topic", ["topic"])
CANNOT_HANDLE = Counter("qrouter_cannot_handle_total", "Answers flagged cannot-handle, by reason", ["reason"])

Provider = Literal["qiwi", "webmoney"]


def api_error(status: int, code: str, message: str) -> HTTPException:
    """An HTTPException carrying the service's one error shape (see service.api.error_body)."""
    return HTTPException(status, error_body(code, message))


def not_loaded(state) -> str:
    return f"the model is not loaded: {state.error}"


# --- dependencies -------------------------------------------------------------------------------


# Dependencies are async: FastAPI runs sync dependencies in the threadpool, a hop per request each.
# Only the CPU-bound prediction itself goes to the threadpool (the endpoints are plain `def`).


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_router(request: Request):
    state = request.app.state.model
    if state.router is None:
        raise api_error(503, "not_ready", not_loaded(state))
    return state.router


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RouterDep = Annotated[Any, Depends(get_router)]


# --- schemas ------------------------------------------------------------------------------------


class RouteRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"text": "Не приходит смс с кодом для входа в Киви", "provider": None, "explain": False}]
        },
    )

    text: str = Field(description="the customer's message", min_length=1)
    provider: Provider | None = Field(None, description="the payment system, when the caller knows it")
    explain: bool = Field(False, description="also return the n-grams that pushed the decision")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text is empty or blank")
        return v


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1)
    provider: Provider | None = None

    _not_blank = field_validator("text")(RouteRequest._not_blank.__func__)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[BatchItem] = Field(min_length=1)


class ContactOut(BaseModel):
    type: str
    value: str
    note: str | None = None


class ChannelOut(BaseModel):
    id: str
    provider: str
    kind: str
    name: str
    contacts: list[ContactOut]
    hours: str | None = None
    notes: str | None = None
    source: str | None = None


class Alternative(BaseModel):
    topic: str
    probability: float


class Reason(BaseModel):
    code: str
    message: str


class NGram(BaseModel):
    ngram: str
    weight: float


class RouteOut(BaseModel):
    topic: str | None
    confidence: float
    alternatives: list[Alternative]
    ambiguous: bool
    cannot_handle: bool
    reason: Reason | None
    provider: str | None
    provider_source: Literal["request", "text", "default"] | None
    channels: list[ChannelOut]
    model_version: str
    explanation: list[NGram] | None = None


class BatchOut(BaseModel):
    results: list[RouteOut]


class ErrorOut(BaseModel):
    error: str
    message: str
    details: list[Any]


ERRORS = {
    400: {"model": ErrorOut, "description": "malformed request (e.g. broken JSON)"},
    413: {"model": ErrorOut, "description": "body or text too large"},
    415: {"model": ErrorOut, "description": "wrong content type"},
    422: {"model": ErrorOut, "description": "invalid field values"},
    503: {"model": ErrorOut, "description": "model not loaded"},
}


async def _check_json(request: Request) -> None:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise api_error(415, "unsupported_media_type", "send the body as application/json")


def _check_length(texts: list[str], settings: Settings) -> None:
    for i, t in enumerate(texts):
        if len(t) > settings.max_text_length:
            where = f"items.{i}.text" if len(texts) > 1 else "text"
            raise api_error(413, "text_too_long", f"{where} has {len(t)} characters; the limit is {settings.max_text_length}")


def _count(routes) -> None:
    for r in routes:
        ANSWERS.labels(r.topic or "").inc()
        if r.cannot_handle:
            CANNOT_HANDLE.labels(r.reason["code"] if r.reason else "").inc()


# --- routers ------------------------------------------------------------------------------------

health_router = APIRouter(tags=["health"])
route_router = APIRouter(prefix="/v1", tags=["routing"], dependencies=[Depends(_check_json)], responses=ERRORS)
meta_router = APIRouter(prefix="/v1", tags=["model"])
admin_router = APIRouter(prefix="/v1/admin", tags=["admin"])
batch_router = APIRouter(prefix="/v1", tags=["batch"])


@health_router.get("/healthz", summary="liveness")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health_router.get("/readyz", summary="readiness: model loaded and verified", responses={503: {"model": ErrorOut}})
def readyz(request: Request):
    state = request.app.state.model
    if state.router is None:
        return error_response(503, "not_ready", not_loaded(state))
    return {"status": "ready", "model_version": state.router.model_version}


@route_router.post("/route", response_model=RouteOut, response_model_exclude_none=False, summary="route one question")
def route_one(body: RouteRequest, router: RouterDep, settings: SettingsDep):
    _check_length([body.text], settings)
    (r,) = router.route([body.text], body.provider, default_provider=settings.default_provider, explain=body.explain)
    _count([r])
    # the Route is built by our own code to the RouteOut shape (the schemathesis test checks it), so it is
    # returned as is rather than re-validated through the response model on every request
    return JSONResponse(r.to_dict())


@route_router.post(
    "/route/batch", response_model=BatchOut, summary="route up to max_batch_items questions, answers in input order"
)
def route_batch(body: BatchRequest, router: RouterDep, settings: SettingsDep):
    if len(body.items) > settings.max_batch_items:
        raise api_error(413, "too_many_items", f"{len(body.items)} items; the limit is {settings.max_batch_items}")
    texts = [i.text for i in body.items]
    _check_length(texts, settings)
    routes = router.route(texts, [i.provider for i in body.items], default_provider=settings.default_provider)
    _count(routes)
    return JSONResponse({"results": [r.to_dict() for r in routes]})


@meta_router.get("/model", summary="the served model's manifest", responses={503: {"model": ErrorOut}})
def model_info(router: RouterDep) -> dict:
    m = router.manifest
    return {
        "model_version": m["model_version"],
        "labels": m["labels"],
        "oos_label": m.get("oos_label"),
        "thresholds": m["thresholds"],
        "metrics": m.get("metrics", {}),
        "trained_at": m.get("created_at"),
        "versions": m["versions"],
        "data": m.get("data", {}),
        "params": m.get("params", {}),
        "encoder": m.get("encoder"),  # the optional sentence-embedding block, None without it
        "cascade": m.get("cascade"),  # with the encoder: when the TF-IDF model hands a question to it
    }


@meta_router.get("/topics", summary="the taxonomy with each topic's channels per provider", responses={503: {"model": ErrorOut}})
def topics(router: RouterDep) -> dict:
    table = router.routing
    out = []
    for tid, t in table.topics.items():
        out.append(
            {
                "id": tid,
                "name": t.name,
                "can_handle": t.can_handle,
                "reason": table.reasons.get(tid) if not t.can_handle else None,
                "in_model": tid in router.labels,
                "channels": {p: router.channels(tid, p) for p in table.providers},
            }
        )
    return {"topics": out}


async def require_api_key(request: Request, settings: SettingsDep) -> None:
    if not settings.api_key:
        raise api_error(403, "forbidden", "admin routes are disabled: set QROUTER_API_KEY")
    given = request.headers.get("x-api-key", "")
    if not secrets.compare_digest(given.encode(), settings.api_key.encode()):
        raise api_error(401, "unauthorized", "a valid X-API-Key header is required")


@admin_router.post(
    "/reload",
    summary="re-verify and reload the model artifact from disk (this worker process)",
    dependencies=[Depends(require_api_key)],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
def reload_model(request: Request, settings: SettingsDep):
    """After `qrouter train` wrote a new artifact. With several uvicorn workers each process holds its own
    model: this reloads the worker that answered; restart the service to reload them all."""
    state = request.app.state.model
    previous = state.router.model_version if state.router else None
    state.load(settings)
    if state.router is None:
        return error_response(503, "not_ready", f"reload failed, {not_loaded(state)}")
    return {"status": "ready", "model_version": state.router.model_version, "previous_model_version": previous}


@batch_router.post(
    "/classify/csv",
    summary="upload a CSV export (multipart field 'file'); get it back with the routing columns added",
    response_class=FileResponse,
    responses={200: {"content": {"text/csv": {}}}, 400: {"model": ErrorOut}, 413: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
def classify_csv(
    router: RouterDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV or JSONL export")],
    text_column: Annotated[str, Form()] = "text",
    provider_column: Annotated[str | None, Form()] = None,
    prefix: Annotated[str, Form()] = "",
    encoding: Annotated[str, Form()] = "auto",
    sep: Annotated[str, Form()] = "auto",
):
    from service.batch import BatchError, classify_file

    work = Path(tempfile.mkdtemp(prefix="qrouter-csv-"))
    cleanup = BackgroundTask(shutil.rmtree, work, ignore_errors=True)
    try:
        src = work / ("input.jsonl" if (file.filename or "").lower().endswith(".jsonl") else "input.csv")
        size = 0
        with src.open("wb") as fh:
            while block := file.file.read(1 << 20):
                size += len(block)
                if size > settings.max_upload_bytes:
                    raise api_error(413, "upload_too_large", f"the upload is larger than {settings.max_upload_bytes} bytes")
                fh.write(block)
        dst = work / "classified.csv"
        classify_file(
            router,
            src,
            dst,
            text_column=text_column,
            provider_column=provider_column or None,
            prefix=prefix,
            encoding=encoding,
            sep=sep,
            default_provider=settings.default_provider,
        )
    except BatchError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise api_error(422, "bad_csv", str(exc).splitlines()[0]) from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    name = Path(file.filename or "export.csv").stem + ".classified.csv"
    return FileResponse(dst, media_type="text/csv; charset=utf-8", filename=name, background=cleanup)
