"""The HTTP API: an app factory, the model loaded once in ``lifespan``, one error shape everywhere."""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.settings import Settings, get_settings

log = logging.getLogger("qrouter.api")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line; messages never carry request texts."""

    def format(self, record: logging.LogRecord) -> str:
        data = {"ts": round(record.created, 3), "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        data.update(getattr(record, "fields", {}))
        return json.dumps(data, ensure_ascii=False)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger("qrouter")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def error_body(code: str, message: str, details: list | None = None) -> dict[str, Any]:
    return {"error": code, "message": message, "details": details or []}


def error_response(
    status: int, code: str, message: str, details: list | None = None, headers: dict | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


class ModelState:
    """The loaded router, or why there is none (the service stays live, /readyz says not ready)."""

    def __init__(self) -> None:
        self.router = None
        self.error: str | None = "model not loaded yet"

    def load(self, settings: Settings) -> None:
        from model.router import Router
        from model.scoring import BATCH_ROWS

        try:
            self.router = Router.load(settings.model_dir, settings.routing_path)
            self.router.predict_proba(["warm up"] * BATCH_ROWS)  # loads (or compiles) the kernels now, not in a request
            self.error = None
        except Exception as exc:  # any failure leaves the service live but not ready, with the reason
            self.router = None
            self.error = str(exc)
            log.error("model not loaded", extra={"fields": {"reason": self.error}})


class RequestIdMiddleware:
    """Pure ASGI: an X-Request-ID on every answer (the caller's, if sane, else a new one) and one
    structured access-log line per request (method, path, status, ms; never the body)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        if not (0 < len(rid) <= 64 and rid.replace("-", "").isalnum()):
            rid = uuid.uuid4().hex
        t0 = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if log.isEnabledFor(logging.INFO):
                fields = {
                    "request_id": rid,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round((time.perf_counter() - t0) * 1000, 2),
                }
                log.info("request", extra={"fields": fields})


class BodyLimitMiddleware:
    """Refuse request bodies over a byte limit with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_json: int, max_upload: int) -> None:
        self.app, self.max_json, self.max_upload = app, max_json, max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_upload if scope["path"].endswith("/csv") else self.max_json
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")

        def too_big() -> JSONResponse:  # built only when refused: this middleware sees every request
            return error_response(413, "body_too_large", f"request body is larger than the limit of {limit} bytes")

        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await too_big()(scope, receive, send)
        if declared is not None or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        # no Content-Length (chunked): read up to the limit before the app sees any of it, then replay
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return await too_big()(scope, receive, send)
            more = message.get("more_body", False)
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay_receive() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replay_receive, send)


def _validation_message(errors: list[dict]) -> tuple[int, str, str, list]:
    details = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p != "body"]
        details.append({"field": ".".join(loc) or "body", "message": e.get("msg", ""), "type": e.get("type", "")})
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "invalid_json", "the request body is not valid JSON", details
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    msg = first["message"].removeprefix("Value error, ")
    return 422, "invalid_request", f"{first['field']}: {msg}" if first["field"] != "body" else msg, details


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    state = ModelState()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.load(settings)
        yield

    app = FastAPI(
        title="question-router",
        version="0.1.0",
        summary="Routes payment-system support questions to a topic and the right support channels.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.model = state

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        status, code, message, details = _validation_message(exc.errors())
        return error_response(status, code, message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}.get(
            exc.status_code, "http_error"
        )
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        if isinstance(exc.detail, dict):
            return JSONResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
        return error_response(exc.status_code, code, detail, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error", extra={"fields": {"path": request.url.path}})
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")

    # added before the request-id middleware, so it runs inside it and its 413s carry the id too
    app.add_middleware(BodyLimitMiddleware, max_json=settings.max_body_bytes, max_upload=settings.max_upload_bytes)

    app.add_middleware(RequestIdMiddleware)

    from service.routes import admin_router, batch_router, health_router, meta_router, route_router

    app.include_router(health_router)
    app.include_router(route_router)
    app.include_router(meta_router)
    app.include_router(batch_router)
    app.include_router(admin_router)

    from prometheus_fastapi_instrumentator import Instrumentator

    Instrumentator(excluded_handlers=["/metrics"]).instrument(app).expose(app, include_in_schema=False)
    return app
