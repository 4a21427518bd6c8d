"""RFC 9457 problem documents for every error the API returns, 500 included."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from extsched.errors import ExtschedError

PROBLEM_JSON = "application/problem+json"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="extsched"'}


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    field_errors: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "status": status,
        "title": title,
        "detail": detail,
        "code": code,
    }
    if field_errors:
        body["fieldErrors"] = field_errors
    if extra:
        body.update(extra)
    if status == 401:
        headers = {**CHALLENGE, **(headers or {})}
    return Response(
        orjson.dumps(_printable(body)), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def _printable(value: Any) -> Any:
    """Text that echoes client input may hold lone surrogates, which no UTF-8 encoder writes:
    those are shown escaped (``\\ud800``) instead of failing the answer."""
    if isinstance(value, str):
        if value.isascii():
            return value
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ExtschedError)
    async def _domain_error(_: Request, exc: ExtschedError) -> Response:
        return problem(
            exc.status,
            exc.code,
            exc.title,
            exc.detail,
            field_errors=exc.field_errors,
            extra=exc.extra,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> Response:
        errors: dict[str, str] = {}
        for err in exc.errors():
            errors.setdefault(_field_name(tuple(err.get("loc", ()))), str(err.get("msg")))
        return problem(
            422,
            "VALIDATION_FAILED",
            "Validation failed",
            "the request is invalid",
            field_errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
        return problem(
            exc.status_code,
            codes.get(exc.status_code, "HTTP_ERROR"),
            str(exc.detail),
            str(exc.detail),
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(Exception)
    async def _internal_error(_: Request, exc: Exception) -> Response:
        # Starlette logs the exception too, after this answer is sent.
        return problem(
            500, "INTERNAL_ERROR", "Internal error", "the server failed to handle the request"
        )
