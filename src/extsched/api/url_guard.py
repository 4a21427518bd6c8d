"""URLs holding a NUL character are refused at the door: no resource is named so, and no
PostgreSQL text can hold one, so such a value must never reach a query."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from extsched.api.problems import problem


class NulGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = None
            if "\x00" in scope.get("path", ""):
                refused = problem(404, "NOT_FOUND", "Not found", "no resource has NUL in its name")
            elif b"%00" in scope.get("query_string", b""):
                refused = problem(
                    422,
                    "VALIDATION_FAILED",
                    "Validation failed",
                    "the query string holds a NUL character",
                    field_errors={"query": "parameters must not contain NUL (%00) characters"},
                )
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)
