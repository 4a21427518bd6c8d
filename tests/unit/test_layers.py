"""The layering rules, read from the source: data flows api -> services -> (domain, store,
backends); a backend reaches services only through its port; SQL lives in store."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "extsched"
MAX_LINES = 400


def modules(under: str = "") -> list[Path]:
    root = PACKAGE / under
    return sorted(p for p in root.rglob("*.py") if "migrations" not in p.parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, by its full dotted name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def offending(under: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    bad = []
    for path in modules(under):
        for name in sorted(imports(path)):
            if name.startswith(forbidden) and not name.startswith(allowed):
                bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
    return bad


def test_backends_never_import_services() -> None:
    assert offending("backends", ("extsched.services", "extsched.api")) == []


def test_temporal_workflows_import_only_what_keeps_them_deterministic() -> None:
    # The worker runs them outside Temporal's sandbox, so nothing that does I/O or reads the
    # clock may be in reach of the workflow module.
    allowed = ("__future__", "dataclasses", "datetime", "temporalio")
    found = imports(PACKAGE / "backends" / "temporal" / "workflows.py")
    assert found and sorted(n for n in found if not n.startswith(allowed)) == []


def test_domain_imports_no_other_layer_and_no_database() -> None:
    layers = ("extsched.services", "extsched.store", "extsched.backends", "extsched.api")
    assert offending("domain", (*layers, "sqlalchemy")) == []


def test_store_imports_no_layer_above_it() -> None:
    assert offending("store", ("extsched.services", "extsched.api", "extsched.backends")) == []


def test_the_settings_pages_read_data_only_through_the_json_api() -> None:
    layers = ("extsched.services", "extsched.store", "extsched.backends", "sqlalchemy")
    assert offending("web", layers) == []


def test_api_routers_import_no_store_module() -> None:
    assert offending("api/routers", ("extsched.store", "sqlalchemy")) == []


@pytest.mark.parametrize("layer", ["services", "api"])
def test_services_and_the_api_write_no_sql(layer: str) -> None:
    """Only the type of a connection may pass through; no table, no statement. The composition
    root (``api/app.py``) may build the store."""
    bad = offending(
        layer,
        ("sqlalchemy", "extsched.store.tables", "extsched.store.types"),
        allowed=("sqlalchemy.ext.asyncio",),
    )
    assert bad == []


def test_no_module_passes_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_rules_see_the_whole_package() -> None:
    """The rules above read real files: a wrong path would make them pass on nothing."""
    assert len(modules("backends")) >= 5 and len(modules("services")) >= 10
    assert "extsched.backends.ports" in imports(PACKAGE / "services" / "pipeline.py")
