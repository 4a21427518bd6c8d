"""Manifest endpoints: normalization on publish and the schedulable rule (SPEC §2.1)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SCHEDULABLE_METHODS = ("GET", "POST")
_SLASHES = re.compile(r"/{2,}")


@dataclass(frozen=True)
class ManifestIssue:
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass(frozen=True)
class EndpointSpec:
    method: str
    path: str
    handler: str

    def as_dict(self) -> dict[str, str]:
        return {"method": self.method, "path": self.path, "handler": self.handler}


class ManifestError(ValueError):
    def __init__(self, issues: list[ManifestIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{i.path}: {i.message}" for i in issues))


def normalize_method(raw: str) -> str:
    return raw.strip().upper()


def normalize_path(raw: str) -> str:
    """Trim, strip a leading ``./``, collapse ``/`` runs, add a leading ``/``; keep a trailing one."""
    path = raw.strip()
    while path.startswith("./"):
        path = path[2:]
    path = _SLASHES.sub("/", path)
    if not path.startswith("/"):
        path = "/" + path
    return path


def path_problem(raw: str) -> str | None:
    stripped = raw.strip()
    if not stripped or stripped in (".", "./"):
        return "path must not be empty"
    if ".." in stripped:
        return "path must not contain '..'"
    if any(ch.isspace() for ch in stripped):
        return "path must not contain whitespace"
    if "?" in stripped:
        return "path must not contain '?'"
    return None


def parse_manifest_endpoints(manifest: Any) -> list[EndpointSpec]:
    """The normalized, de-duplicated ``api.endpoints`` of a manifest; raises ManifestError.

    Every problem is reported at once, each with the JSON path of the offending field.
    Duplicates after normalization keep the last declaration, in the position of the first.
    """
    if not isinstance(manifest, dict):
        raise ManifestError([ManifestIssue("manifest", "manifest must be an object")])
    api = manifest.get("api")
    if api is None:
        return []
    if not isinstance(api, dict):
        raise ManifestError([ManifestIssue("api", "api must be an object")])
    raw_endpoints = api.get("endpoints")
    if raw_endpoints is None:
        return []
    if not isinstance(raw_endpoints, list):
        raise ManifestError([ManifestIssue("api.endpoints", "endpoints must be a list")])

    issues: list[ManifestIssue] = []
    found: dict[tuple[str, str], EndpointSpec] = {}
    for i, item in enumerate(raw_endpoints):
        where = f"api.endpoints[{i}]"
        if not isinstance(item, dict):
            issues.append(ManifestIssue(where, "endpoint must be an object"))
            continue
        method, path, handler = item.get("method"), item.get("path"), item.get("handler")
        ok = True
        if not isinstance(method, str) or normalize_method(method) not in ALLOWED_METHODS:
            issues.append(
                ManifestIssue(
                    f"{where}.method", f"method must be one of {', '.join(ALLOWED_METHODS)}"
                )
            )
            ok = False
        if not isinstance(path, str):
            issues.append(ManifestIssue(f"{where}.path", "path must be a string"))
            ok = False
        elif (problem := path_problem(path)) is not None:
            issues.append(ManifestIssue(f"{where}.path", problem))
            ok = False
        if not isinstance(handler, str) or not handler.strip():
            issues.append(ManifestIssue(f"{where}.handler", "handler must be a non-empty string"))
            ok = False
        elif ".." in handler:
            issues.append(ManifestIssue(f"{where}.handler", "handler must not contain '..'"))
            ok = False
        if ok:
            assert isinstance(method, str) and isinstance(path, str) and isinstance(handler, str)
            spec = EndpointSpec(normalize_method(method), normalize_path(path), handler.strip())
            found[(spec.method, spec.path)] = spec
    if issues:
        raise ManifestError(issues)
    return list(found.values())


def unschedulable_reason(method: str, path: str) -> str | None:
    """Why an endpoint cannot be scheduled, or None when it can."""
    if method.upper() not in SCHEDULABLE_METHODS:
        return f"only GET and POST endpoints can be scheduled ({method.upper()} cannot)"
    if any(segment.startswith(":") for segment in path.split("/")) or "{" in path or "}" in path:
        return "paths with parameters cannot be scheduled"
    return None


def manifest_capabilities(manifest: Any) -> list[str]:
    caps = manifest.get("capabilities") if isinstance(manifest, dict) else None
    if not isinstance(caps, list):
        return []
    return sorted({c for c in caps if isinstance(c, str)})


def matches(pattern: str, path: str) -> int | None:
    """How well a concrete request ``path`` matches an endpoint ``pattern``: the number of literal
    segments (a ``:name`` segment matches one non-empty segment), or None when it does not."""
    want, got = pattern.split("/"), path.split("/")
    if len(want) != len(got):
        return None
    literal = 0
    for w, g in zip(want, got, strict=True):
        if w.startswith(":") and len(w) > 1:
            if not g:
                return None
        elif w == g:
            literal += 1
        else:
            return None
    return literal


def match_endpoint(endpoints: list[Any], method: str, path: str) -> Any | None:
    """The endpoint (anything with ``method`` and ``path``) serving ``method path``; the one with
    the most literal segments when several patterns match (``/items/new`` before ``/items/:id``)."""
    best, best_score = None, -1
    for e in endpoints:
        if e.method != method:
            continue
        score = matches(e.path, path)
        if score is not None and score > best_score:
            best, best_score = e, score
    return best
