"""A throwaway PostgreSQL server for the tests and the benchmarks: initdb into a fresh
folder, a free loopback port and a unix socket in that folder, ``pg_ctl start -w``, and a
stop (and the folder removed) at the end. The server binaries are found under
/usr/lib/postgresql/*/bin (Debian's ``postgresql`` package).

initdb refuses to run as root, so as root the server runs as the unprivileged ``postgres``
user (or ``nobody``) through ``runuser``, in a folder that user owns.

    with PostgresServer() as pg:
        store = PostgresStore(pg.dsn("vendor"), vendor_id=...)
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

from tests.cluster import free_port

__all__ = ["PostgresServer", "pg_bin", "postgres_server"]


def pg_bin() -> Path | None:
    """The newest PostgreSQL server binaries on this machine, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


def _server_user() -> str | None:
    """Who runs the server: None for ourselves, or an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root with neither a postgres nor a nobody user for the server")


class PostgresServer:
    """One PostgreSQL server for one test (or one benchmark run). ``state``: ``new``,
    ``running``, ``stopped``."""

    def __init__(self) -> None:
        binaries = pg_bin()
        if binaries is None:
            raise FileNotFoundError("no PostgreSQL server: apt-get install postgresql")
        self.bin = binaries
        self.user = _server_user()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="intentcast-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self.state = "new"
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if cp.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({cp.returncode}): {cp.stderr[-2000:]}"
            )
        return cp

    def start(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-instructions")  # fmt: skip
        self.state = "running"
        self._pg_ctl("start")
        for name in ("vendor", "bench"):
            self.sql(f"CREATE DATABASE {name}")
        return self

    def _pg_ctl(self, action: str, *extra: str) -> None:
        opts = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._run("pg_ctl", action, "-w", "-t", "60", "-D", str(self.data), "-l",
                  str(self.root / "server.log"), "-o", opts, *extra)  # fmt: skip

    def pause(self) -> None:
        """Stop the server but keep its data, for :meth:`resume`."""
        self._pg_ctl("stop", "-m", "fast")

    def resume(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        """``pg_ctl restart`` (fast: connections are cut, the server comes back)."""
        self._pg_ctl("restart", "-m", "fast")

    def sql(self, statement: str, database: str = "postgres") -> str:
        cp = self._run("psql", "-h", str(self.socket_dir), "-p", str(self.port), "-U",
                       "postgres", "-d", database, "-At", "-v", "ON_ERROR_STOP=1", "-c", statement)  # fmt: skip
        return cp.stdout.strip()

    def dsn(self, database: str = "vendor") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.state == "running":
            try:
                self._pg_ctl("stop", "-m", "fast")
            finally:
                self.state = "stopped"
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server with an empty ``vendor`` database. Skipped where no server
    binaries are installed, except on CI (``CI=true``), where that is a failure."""
    if pg_bin() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no PostgreSQL server binaries under /usr/lib/postgresql (CI=true)")
        pytest.skip("no PostgreSQL server: apt-get install postgresql")
    with PostgresServer() as pg:
        yield pg
