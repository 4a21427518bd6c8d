"""``POST /v1/execute`` for development: built-in sample handlers or an HTTP upstream per extension.

Built-in handlers, chosen by the last path segment of the endpoint:
- ``echo`` (and anything unknown): answers 200 with what it was sent;
- ``sleep``: sleeps ``ms`` from the payload (default 1000), then answers 200;
- ``slow``: sleeps 2 s, then answers 200;
- ``fail``: answers the ``status`` from the payload (default 500) with an error body;
- ``status``: answers 200 with a small health document;
- ``self-schedule``: plays an extension managing its own schedules: through the scheduler host
  API (``--host-api``, with ``RUNNER_SERVICE_TOKEN``) it creates a schedule for its own install
  (``endpoint``, ``cron``, ``name`` from the payload; an existing one of that name is kept), then
  answers 200 with that install's schedules.
``--upstream publisher.name=http://127.0.0.1:9000`` forwards an extension's calls to any HTTP service
instead: method, path, headers and body as the extension would see them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)

IDEMPOTENCY_CACHE_SIZE = 10_000
RECENT_REQUESTS = 200
SlugResolver = Callable[[str], Awaitable[str | None]]


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return {
        "status": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body_b64": base64.b64encode(raw).decode(),
        "error": None if status < 400 else body,
    }


def _payload(http: dict[str, Any]) -> Any:
    encoded = http.get("body_b64")
    if not encoded:
        return None
    try:
        return json.loads(base64.b64decode(encoded))
    except ValueError:
        return None


def _handler_name(request: dict[str, Any]) -> str:
    """The built-in handler: the last segment of the endpoint's path."""
    return str((request.get("http") or {}).get("path", "")).rstrip("/").rsplit("/", 1)[-1]


async def builtin(request: dict[str, Any]) -> dict[str, Any]:
    http = request.get("http") or {}
    payload = _payload(http)
    name = _handler_name(request)
    options = payload if isinstance(payload, dict) else {}
    if name == "sleep":
        await asyncio.sleep(float(options.get("ms", 1000)) / 1000)
        return _answer(200, {"slept_ms": options.get("ms", 1000)})
    if name == "slow":
        await asyncio.sleep(2)
        return _answer(200, {"slow": True})
    if name == "fail":
        status = int(options.get("status", 500))
        return _answer(status, {"error": f"failing with {status} as asked"})
    if name == "status":
        return _answer(200, {"ok": True})
    context = request.get("context") or {}
    return _answer(
        200,
        {
            "method": http.get("method"),
            "path": http.get("path"),
            "payload": payload,
            "trigger": context.get("trigger"),
            "schedule_id": context.get("schedule_id"),
            "scheduled_for": context.get("scheduled_for"),
            "attempt": context.get("attempt"),
        },
    )


class DevRunner:
    def __init__(
        self,
        upstreams: dict[str, str] | None = None,
        resolve_slug: SlugResolver | None = None,
        host_api: str | None = None,
        runner_token: str | None = None,
    ) -> None:
        self.upstreams = {k.lower(): v.rstrip("/") for k, v in (upstreams or {}).items()}
        self.resolve_slug = resolve_slug
        self.host_api = host_api.rstrip("/") if host_api else None
        self.runner_token = runner_token
        self.cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.recent: list[dict[str, Any]] = []
        self._session: aiohttp.ClientSession | None = None

    async def _upstream_for(self, extension_id: str) -> str | None:
        if not self.upstreams:
            return None
        found = self.upstreams.get(extension_id.lower())
        if found is None and self.resolve_slug is not None:
            slug = await self.resolve_slug(extension_id)
            found = self.upstreams.get(slug.lower()) if slug else None
        return found

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def self_schedule(self, request: dict[str, Any]) -> dict[str, Any]:
        """Create (once, by name) and list schedules of the calling install via the host API."""
        if not self.host_api or not self.runner_token:
            return _answer(501, {"error": "the dev runner was given no host API URL and token"})
        options = _payload(request.get("http") or {})
        options = options if isinstance(options, dict) else {}
        install_id = str((request.get("context") or {}).get("install_id", ""))
        url = f"{self.host_api}/api/internal/ext-scheduler/install/{install_id}"
        headers = {"x-runner-auth": self.runner_token}

        async def host(body: dict[str, Any]) -> tuple[int, Any]:
            async with self.session().post(url, json=body, headers=headers) as resp:
                return resp.status, await resp.json(content_type=None)

        wanted = {
            "operation": "create",
            "endpoint": options.get("endpoint", "POST /echo"),
            "cron": options.get("cron", "0 * * * *"),
            "name": options.get("name", "Made by the extension"),
        }
        status, created = await host(wanted)
        if not isinstance(created, dict):
            return _answer(502, {"error": f"the host API answered {status} without a document"})
        if status != 201 and not (status == 409 and created.get("code") == "NAME_TAKEN"):
            return _answer(status, created)
        status, listed = await host({"operation": "list"})
        if status != 200:
            return _answer(status, listed)
        return _answer(
            200,
            {
                "created": created.get("schedule"),
                "schedules": [
                    {"id": s["id"], "name": s["name"], "cron": s["cron"]}
                    for s in listed["schedules"]
                ],
            },
        )

    async def forward(self, base: str, request: dict[str, Any]) -> dict[str, Any]:
        http = request.get("http") or {}
        body = base64.b64decode(http["body_b64"]) if http.get("body_b64") else None
        timeout = aiohttp.ClientTimeout(
            total=((request.get("limits") or {}).get("timeout_ms") or 30_000) / 1000
        )
        async with self.session().request(
            http.get("method", "GET"),
            base + str(http.get("path", "/")),
            headers=http.get("headers") or {},
            data=body,
            timeout=timeout,
        ) as resp:
            raw = await resp.read()
            return {
                "status": resp.status,
                "headers": {k.lower(): v for k, v in resp.headers.items()},
                "body_b64": base64.b64encode(raw).decode(),
                "error": None,
            }

    async def execute(self, request: web.Request) -> web.Response:
        tenant = request.headers.get("x-alga-tenant")
        extension = request.headers.get("x-alga-extension")
        if not tenant or not extension:
            return web.json_response({"error": "missing_routing_headers"}, status=400)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "invalid_json"}, status=400)
        key = request.headers.get("x-idempotency-key")
        if key and key in self.cache:
            self.cache.move_to_end(key)
            return web.json_response(self.cache[key])
        self.recent.append({"headers": dict(request.headers), "body": body})
        del self.recent[:-RECENT_REQUESTS]
        upstream = await self._upstream_for(extension)
        try:
            if upstream:
                answer = await self.forward(upstream, body)
            elif _handler_name(body) == "self-schedule":
                answer = await self.self_schedule(body)
            else:
                answer = await builtin(body)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return web.json_response(_answer(502, {"error": f"upstream failed: {exc}"}))
        # A completed answer is replayed for the same run; a 5xx lets a retry execute again.
        if key and int(answer.get("status", 500)) < 500:
            self.cache[key] = answer
            while len(self.cache) > IDEMPOTENCY_CACHE_SIZE:
                self.cache.popitem(last=False)
        return web.json_response(answer)

    async def requests(self, _: web.Request) -> web.Response:
        return web.json_response({"requests": self.recent})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def app(self) -> web.Application:
        application = web.Application(client_max_size=16 * 1024 * 1024)
        application.router.add_post("/v1/execute", self.execute)
        application.router.add_get("/v1/requests", self.requests)
        application.router.add_get("/healthz", _health)
        application.on_cleanup.append(self._cleanup)
        return application

    async def _cleanup(self, _: web.Application) -> None:
        await self.close()


async def _health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def start(
    host: str,
    port: int,
    upstreams: dict[str, str] | None = None,
    resolve_slug: SlugResolver | None = None,
    host_api: str | None = None,
    runner_token: str | None = None,
) -> tuple[web.AppRunner, DevRunner]:
    runner_impl = DevRunner(upstreams, resolve_slug, host_api, runner_token)
    app_runner = web.AppRunner(runner_impl.app(), access_log=None)
    await app_runner.setup()
    await web.TCPSite(app_runner, host, port).start()
    return app_runner, runner_impl
