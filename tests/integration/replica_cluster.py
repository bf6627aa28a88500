"""A PostgreSQL primary and a hot-standby streaming replica of it, started from the server
binaries under a temporary directory (the replica tests' fixture), and ``Routed``, which
counts the statements each engine of a routed ``Database`` runs.

The shared test server cannot be the primary: its pg_hba.conf allows no replication
connections, and tests must not change it. PostgreSQL refuses to run as root, so as root
(here and on CI) the binaries run as the ``postgres`` OS user, in directories it owns.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event

from orm_kit import Database
from orm_kit.replicas import PROBE_OPTION

BINARIES = ("initdb", "pg_ctl", "pg_basebackup", "postgres")

_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{root}'
wal_level = replica
max_wal_senders = 4
hot_standby = on
fsync = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 40
"""


def find_binaries() -> Path | None:
    """The directory of a PostgreSQL server install with every binary the cluster needs:
    the system's (Debian's /usr/lib/postgresql/N/bin), else the one pgserver bundles."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    # The dev dependency that starts the suite's embedded server (found, not imported:
    # importing it warns when XDG_RUNTIME_DIR is unset).
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        package = next(iter(spec.submodule_search_locations))
        candidates.append(str(Path(package) / "pginstall" / "bin"))
    for candidate in candidates:
        if all((Path(candidate) / name).is_file() for name in BINARIES):
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


REPLICAS = ("replica", "replica2")


def _url(port: int) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"


@dataclass
class Cluster:
    """The servers: ``primary_url``, ``replica_urls`` (two standbys of it; ``replica_url``
    is the first), and control of the replicas (``stop_replica`` / ``start_replica``) for
    the failover tests."""

    bin: Path
    root: Path
    ports: list[int] = field(default_factory=list)
    startup_seconds: float = 0.0

    def __post_init__(self) -> None:
        while len(self.ports) < 1 + len(REPLICAS):
            if (port := _free_port()) not in self.ports:
                self.ports.append(port)

    @property
    def primary_url(self) -> str:
        return _url(self.ports[0])

    @property
    def replica_urls(self) -> list[str]:
        return [_url(port) for port in self.ports[1:]]

    @property
    def replica_url(self) -> str:
        return self.replica_urls[0]

    def _run(self, binary: str, *args: str) -> None:
        command = [str(self.bin / binary), *args]
        if os.geteuid() == 0:  # PostgreSQL refuses root: run as the postgres OS user
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{binary} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )

    def _pg_ctl(self, name: str, *args: str) -> None:
        data = str(self.root / name)
        self._run("pg_ctl", "-D", data, "-l", str(self.root / f"{name}.log"), *args)

    def start(self) -> None:
        """initdb the primary, start it, clone each replica with pg_basebackup -R, start it."""
        started = time.perf_counter()
        primary = self.root / "primary"
        self._run(
            "initdb", "-D", str(primary), "-A", "trust", "-U", "postgres", "--no-sync",
            "--no-instructions", "-E", "UTF8",
        )  # fmt: skip
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write(_SETTINGS.format(port=self.ports[0], root=self.root))
        with (primary / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        self._pg_ctl("primary", "-w", "start")
        for i, name in enumerate(REPLICAS):
            # -R writes standby.signal and primary_conninfo: a hot standby streaming from it.
            self._run(
                "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.ports[0]), "-U", "postgres",
                "-D", str(self.root / name), "-R", "-X", "stream", "-c", "fast",
            )  # fmt: skip
            with (self.root / name / "postgresql.conf").open("a") as conf:
                conf.write(f"port = {self.ports[1 + i]}\n")
            self.start_replica(i)
        self.startup_seconds = time.perf_counter() - started

    def running(self, i: int = 0) -> bool:
        """Whether replica ``i`` is running."""
        return (self.root / REPLICAS[i] / "postmaster.pid").exists()

    def start_replica(self, i: int = 0) -> None:
        """Start replica ``i``; returns once it accepts connections (pg_ctl -w)."""
        self._pg_ctl(REPLICAS[i], "-w", "start")

    def stop_replica(self, i: int = 0) -> None:
        """Stop replica ``i`` (fast shutdown: open connections are ended)."""
        self._pg_ctl(REPLICAS[i], "-w", "-m", "fast", "stop")

    def stop(self) -> None:
        """Stop every server at once (immediate) and remove their directories."""
        for name in (*REPLICAS, "primary"):
            if (self.root / name / "postmaster.pid").exists():
                with contextlib.suppress(RuntimeError):  # already stopped
                    self._pg_ctl(name, "-w", "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def make_cluster(binaries: Path) -> Cluster:
    """A cluster under a new temporary directory owned by the user the servers run as."""
    root = Path(tempfile.mkdtemp(prefix="orm_kit_replicas_"))
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres", group="postgres")
    return Cluster(binaries, root)


class Routed:
    """Counts the statements each engine of a routed Database runs, by first word
    (the router's own WAL-position probes left out)."""

    def __init__(self, db: Database) -> None:
        assert db.router is not None
        self.db = db
        self.primary: Counter[str] = Counter()
        self.replicas: list[Counter[str]] = [Counter() for _ in db.router.replicas]
        self.replica = self.replicas[0]
        for engine, seen in (
            (db.engine, self.primary),
            *((r.engine, c) for r, c in zip(db.router.replicas, self.replicas, strict=True)),
        ):
            event.listen(engine.sync_engine, "before_cursor_execute", self._counter(seen))

    @staticmethod
    def _counter(seen: Counter[str]) -> Callable[..., None]:
        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            context = args[-2]
            if not context.execution_options.get(PROBE_OPTION):
                seen[statement.split(None, 1)[0].upper()] += 1

        return count

    def reset(self) -> None:
        self.primary.clear()
        for seen in self.replicas:
            seen.clear()
