"""A throwaway PostgreSQL server: Debian's binaries, a temp data dir, a free port on loopback.

Started once per test session; each test gets its own database cloned from a migrated template.
PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass

import psycopg


def _bin_dir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise RuntimeError(
            "PostgreSQL server binaries not found; `make test` installs Debian's postgresql"
        )
    return os.path.dirname(found[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    port: int
    datadir: str
    bindir: str
    as_user: str | None

    def _run(self, *args: str) -> None:
        cmd = [os.path.join(self.bindir, args[0]), *args[1:]]
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    @classmethod
    def start(cls) -> PostgresServer:
        bindir = _bin_dir()
        root = tempfile.mkdtemp(prefix="extsched-pg-")
        as_user = "postgres" if os.geteuid() == 0 else None
        if as_user:
            shutil.chown(root, as_user)
        server = cls(free_port(), os.path.join(root, "data"), bindir, as_user)
        server._run("initdb", "-D", server.datadir, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        server.resume()
        return server

    def resume(self) -> None:
        """Start the server (again, after ``halt``) and wait until it accepts connections."""
        root = os.path.dirname(self.datadir)
        opts = (
            f"-p {self.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run("pg_ctl", "-D", self.datadir, "-o", opts, "-l", f"{root}/log", "-w", "start")
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def halt(self) -> None:
        """Stop the server as an outage would (every connection cut), keeping its data. A clean
        stop: the test server runs without fsync, so a crash stop would lose commits that no
        durable server loses."""
        self._run("pg_ctl", "-D", self.datadir, "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", self.datadir, "-m", "immediate", "stop")
        finally:
            shutil.rmtree(os.path.dirname(self.datadir), ignore_errors=True)

    def dsn(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def admin(self, sql: str) -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self, template: str | None = None) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        self.admin(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
