from __future__ import annotations

import pytest

from extsched.domain.endpoints import (
    ManifestError,
    normalize_path,
    parse_manifest_endpoints,
    unschedulable_reason,
)
from extsched.domain.install_config import providers


def endpoints(*items: dict[str, object]) -> dict[str, object]:
    return {"api": {"endpoints": list(items)}}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/sync", "/sync"),
        ("sync", "/sync"),
        ("./sync", "/sync"),
        ("  /sync  ", "/sync"),
        ("//a///b", "/a/b"),
        ("/sync/", "/sync/"),
        ("./a//b/", "/a/b/"),
    ],
)
def test_it_normalizes_paths(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


def test_it_upper_cases_and_trims_methods() -> None:
    [ep] = parse_manifest_endpoints(endpoints({"method": " post ", "path": "x", "handler": "h"}))
    assert (ep.method, ep.path, ep.handler) == ("POST", "/x", "h")


def test_a_trailing_slash_is_a_different_endpoint() -> None:
    parsed = parse_manifest_endpoints(
        endpoints(
            {"method": "GET", "path": "/sync", "handler": "a"},
            {"method": "GET", "path": "/sync/", "handler": "b"},
        )
    )
    assert [e.path for e in parsed] == ["/sync", "/sync/"]


def test_duplicates_after_normalization_keep_the_last_declaration() -> None:
    parsed = parse_manifest_endpoints(
        endpoints(
            {"method": "post", "path": "./sync", "handler": "first"},
            {"method": "GET", "path": "/other", "handler": "o"},
            {"method": "POST", "path": "//sync", "handler": "last"},
        )
    )
    assert [(e.method, e.path, e.handler) for e in parsed] == [
        ("POST", "/sync", "last"),
        ("GET", "/other", "o"),
    ]


def test_it_reports_every_invalid_field_with_its_json_path() -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest_endpoints(
            endpoints(
                {"method": "OPTIONS", "path": "/ok", "handler": "h"},
                {"method": "GET", "path": "/a/../b", "handler": "h"},
                {"method": "GET", "path": "/a b", "handler": "h"},
                {"method": "GET", "path": "/a?x=1", "handler": "h"},
                {"method": "GET", "path": "  ", "handler": "h"},
                {"method": "GET", "path": "/fine", "handler": "../escape"},
                {"method": "GET", "path": "/fine", "handler": ""},
                "not an object",
            )
        )
    found = {(i.path, i.message) for i in info.value.issues}
    assert found == {
        ("api.endpoints[0].method", "method must be one of GET, POST, PUT, PATCH, DELETE"),
        ("api.endpoints[1].path", "path must not contain '..'"),
        ("api.endpoints[2].path", "path must not contain whitespace"),
        ("api.endpoints[3].path", "path must not contain '?'"),
        ("api.endpoints[4].path", "path must not be empty"),
        ("api.endpoints[5].handler", "handler must not contain '..'"),
        ("api.endpoints[6].handler", "handler must be a non-empty string"),
        ("api.endpoints[7]", "endpoint must be an object"),
    }


def test_a_manifest_without_api_has_no_endpoints() -> None:
    assert parse_manifest_endpoints({"name": "x"}) == []


@pytest.mark.parametrize(
    ("method", "path", "reason"),
    [
        ("GET", "/status", None),
        ("POST", "/sync", None),
        ("PUT", "/sync", "only GET and POST endpoints can be scheduled (PUT cannot)"),
        ("DELETE", "/sync", "only GET and POST endpoints can be scheduled (DELETE cannot)"),
        ("GET", "/a/:id", "paths with parameters cannot be scheduled"),
        ("POST", "/a/{id}", "paths with parameters cannot be scheduled"),
        ("POST", "/a/{id}/b", "paths with parameters cannot be scheduled"),
    ],
)
def test_it_decides_which_endpoints_are_schedulable(
    method: str, path: str, reason: str | None
) -> None:
    assert unschedulable_reason(method, path) == reason


def test_providers_are_defaults_plus_granted_only() -> None:
    assert providers(["cap:scheduler.manage"]) == [
        "cap:context.read",
        "cap:log.emit",
        "cap:scheduler.manage",
        "cap:user.read",
    ]
    assert providers([]) == ["cap:context.read", "cap:log.emit", "cap:user.read"]
