"""The README's run command, for real: `extsched serve --demo` in its own process over HTTP."""

from __future__ import annotations

import subprocess

import httpx

from tests.e2e.conftest import EXTSCHED, demo_run_now


def test_serve_migrates_sqlite_and_serves_health_openapi_and_demo_data(
    served: tuple[str, dict[str, str]],
) -> None:
    base, env = served
    assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
    spec = httpx.get(f"{base}/openapi.json").json()
    assert spec["info"]["title"] == "extsched"
    token = subprocess.run(
        [EXTSCHED, "token", "--tenant", "demo", "--perm", "extension:read"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    r = httpx.get(
        f"{base}/api/extensions/extsched.sample/endpoints",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200
    paths = {(e["method"], e["path"]) for e in r.json()["endpoints"]}
    assert ("POST", "/echo") in paths
    # The demo schedule exists and its first run (a run-now) goes through the dev runner.
    run = demo_run_now(base, env)
    assert (run["trigger"], run["status"], run["httpStatus"]) == ("run_now", "success", 200)
    metrics = httpx.get(f"{base}/metrics").text
    assert 'extsched_runs_total{status="success",trigger="run_now"} 1.0' in metrics


def test_backfill_endpoints_command_is_idempotent(served: tuple[str, dict[str, str]]) -> None:
    _, env = served
    runs = [
        subprocess.run(
            [EXTSCHED, "backfill-endpoints"], env=env, capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert '"versions"' in runs[0]
