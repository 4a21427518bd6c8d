"""The OpenAPI document describes what the served API does: a bounded schemathesis run over every
route (the gateway, the host API with the Runner's token, the settings pages), with stateful
sequences along the document's links, finds no server error and no undocumented status, content
type or shape; a client generated from the document drives a schedule from install to delete with
its typed models. ``make fuzz`` runs the same with many more cases (``EXTSCHED_FUZZ_EXAMPLES``)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import EXTSCHED, RUNNER_TOKEN

BIN = Path(sys.executable).parent
EXAMPLES = os.environ.get("EXTSCHED_FUZZ_EXAMPLES", "15")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)


def token(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [EXTSCHED, "token", *args], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def schemathesis(
    base: str, config: Path, bearer: str, workdir: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "schemathesis"),
            "--config-file",
            str(config),
            "run",
            f"{base}/openapi.json",
            "--header",
            f"Authorization: Bearer {bearer}",
            "--header",
            f"x-runner-auth: {RUNNER_TOKEN}",
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            EXAMPLES,
            "--seed",
            "20261130",
            "--workers",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=3600,
    )


def test_schemathesis_finds_no_server_error_and_no_mismatch_as_tenant_admin_and_operator(
    served: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base, env = served
    admin = token(env, "--tenant", "demo")
    operator = token(env, "--perm", "platform:admin")
    h = {"Authorization": f"Bearer {admin}"}
    [schedule] = httpx.get(f"{base}/api/extensions/extsched.sample/schedules", headers=h).json()[
        "schedules"
    ]
    install = httpx.get(f"{base}/api/v1/extensions/extsched.sample", headers=h).json()
    # Real identifiers, so the cases reach the resources instead of stopping at 404.
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[parameters]\n"
        f'extension_id = "extsched.sample"\n'
        f'schedule_id = "{schedule["id"]}"\n'
        f'registry_id = "{install["registryId"]}"\n'
        f'version_id = "{install["versionId"]}"\n'
        f'install_id = "{install["id"]}"\n'
        'tenant_id = "demo"\n'
    )
    for who, bearer in (("tenant admin", admin), ("operator", operator)):
        run = schemathesis(base, config, bearer, tmp_path)
        summary = run.stdout[-3000:]
        assert run.returncode == 0, f"as {who}:\n{run.stdout[-12000:]}\n{run.stderr[-2000:]}"
        assert " passed" in summary and "failed" not in summary.split("Test cases:")[-1], summary


@pytest.fixture
def generated_client(served: tuple[str, dict[str, str]], tmp_path: Path) -> Iterator[Any]:
    base, _ = served
    (tmp_path / "openapi.json").write_bytes(httpx.get(f"{base}/openapi.json").content)
    subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(tmp_path / "openapi.json"),
            "--output-path",
            str(tmp_path / "extsched_client"),
            "--meta",
            "none",
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
        timeout=300,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("extsched_client")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("extsched_client")]:
            del sys.modules[name]


@pytest.mark.usefixtures("generated_client")
def test_a_generated_client_installs_creates_patches_previews_runs_and_deletes_a_schedule(
    served: tuple[str, dict[str, str]],
) -> None:
    base, env = served
    models = importlib.import_module("extsched_client.models")
    client_mod = importlib.import_module("extsched_client.client")
    tenant = client_mod.AuthenticatedClient(
        base_url=base, token=token(env, "--tenant", "typed-tenant")
    )
    operator = client_mod.AuthenticatedClient(
        base_url=base, token=token(env, "--perm", "platform:admin")
    )

    try:
        drive(models, tenant, operator)
    finally:
        for client in (tenant, operator):
            client.get_httpx_client().close()


def drive(models: Any, tenant: Any, operator: Any) -> None:
    def op(group: str, name: str) -> Any:
        return importlib.import_module(f"extsched_client.api.{group}.{name}")

    extensions = op("registry", "list_extensions").sync(client=operator)
    assert isinstance(extensions, models.ExtensionList)
    [sample] = [e for e in extensions.extensions if e.slug == "extsched.sample"]

    installed = op("installs", "install").sync(
        client=tenant, body=models.InstallIn(registry_id=sample.id, version="1.0.0")
    )
    assert isinstance(installed, models.InstallOut), installed
    assert (installed.registry_id, installed.enabled) == (sample.id, True)

    listed = op("extensions", "endpoints").sync("extsched.sample", client=tenant)
    [echo] = [e for e in listed.endpoints if (e.method, e.path) == ("POST", "/echo")]

    refused = op("schedules", "create_schedule").sync(
        "extsched.sample",
        client=tenant,
        body=models.ScheduleCreate(endpoint_id=echo.id, cron="* * * * *"),
    )
    assert isinstance(refused, models.Problem)
    assert (refused.status, refused.code) == (422, "VALIDATION_FAILED")
    assert "cron" in refused.field_errors.to_dict()

    created = op("schedules", "create_schedule").sync(
        "extsched.sample",
        client=tenant,
        body=models.ScheduleCreate(
            endpoint_id=echo.id,
            cron="*/15 * * * *",
            name="typed",
            timezone="Europe/Paris",
            payload_json=models.ScheduleCreatePayloadJsonType0.from_dict({"n": 1}),
        ),
    )
    assert isinstance(created, models.ScheduleOut), created
    assert (created.name, created.endpoint_path, created.revision) == ("typed", "/echo", 1)

    patched = op("schedules", "update_schedule").sync(
        "extsched.sample", created.id, client=tenant, body=models.ScheduleUpdate(cron="0 * * * *")
    )
    assert isinstance(patched, models.ScheduleOut), patched
    assert (patched.cron, patched.revision, patched.cron_description) == (
        "0 * * * *",
        2,
        "At the start of every hour",
    )

    preview = op("schedules", "preview").sync(
        "extsched.sample",
        client=tenant,
        body=models.PreviewIn(cron="0 9 * * *", timezone="Europe/Paris", count=3),
    )
    assert isinstance(preview, models.PreviewOut)
    assert preview.valid and len(preview.occurrences) == 3
    assert all(o.local.endswith(("+01:00", "+02:00")) for o in preview.occurrences)

    run = op("schedules", "run_now").sync("extsched.sample", created.id, client=tenant)
    assert isinstance(run, models.RunOut), run
    assert run.trigger == "run_now"
    deadline = time.monotonic() + 20
    while True:
        runs = op("schedules", "list_runs").sync("extsched.sample", created.id, client=tenant)
        [done] = [r for r in runs.runs if r.id == run.id]
        if done.status not in ("queued", "running"):
            break
        assert time.monotonic() < deadline, done
        time.sleep(0.1)
    assert (done.status, done.http_status) == ("success", 200)

    deleted = op("schedules", "delete_schedule").sync_detailed(
        "extsched.sample", created.id, client=tenant
    )
    assert deleted.status_code == 204
    gone = op("schedules", "get_schedule").sync("extsched.sample", created.id, client=tenant)
    assert isinstance(gone, models.Problem) and gone.code == "SCHEDULE_NOT_FOUND"
