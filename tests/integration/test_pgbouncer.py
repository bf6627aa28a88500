"""orm_kit through a real PgBouncer in transaction pool mode.

Each test starts its own ``pgbouncer`` (the system binary) on a free port in front of the
PostgreSQL under test, with a pool of ``SERVER_POOL`` server connections, so that many
client connections really share a few server connections. Through it: CRUD, transactions
and savepoints, bulk_create (COPY included), streaming, and a concurrent workload, with
``pgbouncer=True``; and the same workload without it, which fails with prepared-statement
errors: the preset is needed. And a PgBouncer restart under a full pool, which costs one
failed call at most (none with pre-ping).

The binary missing skips these tests, except with ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from orm_kit import ConflictError, Database, DatabaseUnavailableError, ORMKitError
from orm_kit.exceptions import translated
from tests.models import User

pytestmark = pytest.mark.requires("pgbouncer")

SERVER_POOL = 3
"""PgBouncer's server connections to the database (default_pool_size)."""
TASKS = 50
ROUNDS = 3
"""Each task runs its workload this many times: a pool's connections run the same
statements again, as an application's do."""
CLIENT_POOL = {"pool_size": 10, "max_overflow": 0}
"""orm_kit's pool: fewer connections than tasks, more than PgBouncer's server connections."""


class Bouncer:
    """A running ``pgbouncer``: its orm_kit URL, its log, and a way to restart it."""

    def __init__(self, command: list[str], port: int, url: str, log: Path) -> None:
        self.url = url
        """The orm_kit URL of the database through PgBouncer."""
        self.log = log
        self._command, self._port = command, port
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(self._command, stdout=out, stderr=subprocess.STDOUT)
        _wait_until_listening(self._proc, self._port, self.log)

    def stop(self) -> None:
        """SIGTERM, as ``kill`` sends: PgBouncer drops every client connection at once."""
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None

    def restart(self) -> None:
        """Stop it and start it again on the same port: the clients' connections are dead."""
        self.stop()
        self.start()


def _binary() -> str:
    for candidate in (shutil.which("pgbouncer"), "/usr/sbin/pgbouncer"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    reason = (
        "the pgbouncer binary is not installed (apt-get install pgbouncer); the PgBouncer "
        "tests need the real server"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"pgbouncer exited with {proc.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"pgbouncer did not listen on 127.0.0.1:{port} within 15 s:\n{log.read_text()}")


@pytest.fixture
def pgbouncer(postgres_url: str, tmp_path: Path) -> Iterator[Bouncer]:
    """A PgBouncer in transaction mode in front of the test database (host, port, database
    and user taken from the test URL), stopped after the test."""
    binary = _binary()
    target = make_url(postgres_url)
    host = target.host or target.query.get("host") or "127.0.0.1"
    database, user = target.database or "postgres", target.username or "postgres"
    server = f"host={host} port={target.port or 5432} dbname={database} user={user}"
    if target.password:
        server += f" password={target.password}"
    port = _free_port()
    ini = tmp_path / "pgbouncer.ini"
    ini.write_text(
        f"[databases]\n{database} = {server}\n\n[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\n"
        f"default_pool_size = {SERVER_POOL}\nmax_db_connections = {SERVER_POOL}\n"
        "reserve_pool_size = 0\nmax_client_conn = 500\n"
    )
    command = [binary, str(ini)]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root: it reads its ini, then drops to
        users = [u for u in ("postgres", "nobody") if _user_exists(u)]
        if not users:
            pytest.fail("running as root, and there is no postgres or nobody user for pgbouncer")
        command[1:1] = ["-u", users[0]]
    log = tmp_path / "pgbouncer.log"
    url = f"postgresql+asyncpg://{user}@127.0.0.1:{port}/{database}"
    bouncer = Bouncer(command, port, url, log)
    try:
        bouncer.start()
        yield bouncer
    finally:
        bouncer.stop()


def count_statements(db: Database) -> list[str]:
    """The statements ``db`` sends from now on (its requests to the server)."""
    sent: list[str] = []
    event.listen(
        db.engine.sync_engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_a: sent.append(statement),
    )
    return sent


async def backend_pid(db: Database) -> int:
    with translated():
        pid: int = await db.run_direct(text("SELECT pg_backend_pid()"), lambda r: r.scalar_one())
    return pid


async def test_crud_transactions_and_savepoints(db: Database, pgbouncer: Bouncer) -> None:
    async with Database(pgbouncer.url, name="bounced", pgbouncer=True, pool_pre_ping=True) as pdb:
        users = User.objects.using(pdb)
        ann = await users.create(email="ann@x.io", name="Ann")
        assert (await users.get(email="ann@x.io")).id == ann.id
        assert await users.filter(name="Ann").update(score=5) == 1
        ann.name = "Anne"
        await ann.save()
        assert (await users.get(id=ann.id)).name == "Anne"

        async with pdb.session():
            await User.objects.create(email="bob@x.io")
            await User.objects.create(email="cy@x.io")
        with pytest.raises(RuntimeError):
            async with pdb.session():
                await User.objects.create(email="gone@x.io")
                raise RuntimeError("roll it back")
        async with pdb.session():
            await User.objects.create(email="kept@x.io")
            with pytest.raises(RuntimeError):
                async with pdb.transaction():  # SAVEPOINT
                    await User.objects.create(email="undone@x.io")
                    raise RuntimeError("back to the savepoint")
            assert await User.objects.filter(email="undone@x.io").count() == 0

        assert await users.filter(email="cy@x.io").delete() == 1
        expected = ["ann@x.io", "bob@x.io", "kept@x.io"]
        assert await users.order_by("email").values_list("email", flat=True) == expected
        # The direct connection to PostgreSQL sees exactly what went through PgBouncer.
        assert await User.objects.order_by("email").values_list("email", flat=True) == expected
        info = await pdb.info()
        assert info["connections"]["total"] >= 1


async def test_bulk_create_copy_and_streaming(db: Database, pgbouncer: Bouncer) -> None:
    async with Database(pgbouncer.url, name="bounced", pgbouncer=True) as pdb:
        users = User.objects.using(pdb)
        small = await users.bulk_create([User(email=f"s{i}@x.io") for i in range(20)])
        sent = count_statements(pdb)
        big = await users.bulk_create([User(email=f"b{i:05d}@x.io", age=i) for i in range(3000)])
        assert not any(s.lstrip().upper().startswith("INSERT") for s in sent)  # COPY
        ids = [u.id for u in small + big]
        assert len(set(ids)) == 3020 and None not in ids
        assert await users.count() == 3020

        streamed = [u.id async for u in users.order_by("id")]
        assert streamed == sorted(ids)
        chunked = [u.age async for u in users.filter(age__gte=1000).iterator(chunk_size=250)]
        assert sorted(chunked) == list(range(1000, 3000))


async def workload(pdb: Database, task: int) -> None:
    """One task's share of a realistic mix, ``ROUNDS`` times: writes, reads, a unit of work
    with a savepoint that is rolled back, a bulk insert and a count."""
    users = User.objects.using(pdb)
    for r in range(ROUNDS):
        tag = f"t{task}r{r}"
        user = await users.create(email=f"{tag}@x.io", name=f"task {task}")
        assert (await users.get(id=user.id)).email == f"{tag}@x.io"
        assert await users.filter(id=user.id).update(score=task) == 1
        async with pdb.session():
            await User.objects.create(email=f"{tag}-a@x.io")
            try:
                async with pdb.transaction():
                    await User.objects.create(email=f"{tag}-b@x.io")
                    raise LookupError
            except LookupError:
                pass
        await users.bulk_create([User(email=f"{tag}-{i}@x.io") for i in range(5)])
        assert await users.filter(email__startswith=f"{tag}-").count() == 6


async def run_workload(pdb: Database) -> tuple[int, Counter[str]]:
    """Run ``TASKS`` concurrent workloads; return the statements sent and the errors."""
    sent = count_statements(pdb)
    errors: Counter[str] = Counter()

    async def one(task: int) -> None:
        try:
            await workload(pdb, task)
        except ORMKitError as exc:
            hinted = " [hint]" if "set DATABASE_PGBOUNCER=true" in str(exc) else ""
            errors[f"{type(exc).__name__}: {str(exc)[:120]}{hinted}"] += 1

    await asyncio.gather(*(one(task) for task in range(TASKS)))
    return len(sent), errors


async def test_a_concurrent_workload_shares_few_server_connections(
    db: Database, pgbouncer: Bouncer
) -> None:
    async with Database(pgbouncer.url, name="bounced", pgbouncer=True, **CLIENT_POOL) as pdb:
        opened: list[object] = []
        event.listen(pdb.engine.sync_engine, "connect", lambda conn, _r: opened.append(conn))
        requests, errors = await run_workload(pdb)
        print(f"PgBouncer preset: {requests} statements from {TASKS} tasks, errors: {errors}")
        assert errors == Counter()
        # 1 + 1 (unit of work) + 5 (bulk) per round, and no rolled-back row.
        assert await User.objects.count() == TASKS * ROUNDS * 7
        assert await User.objects.filter(email__endswith="-b@x.io").count() == 0
        scores = await User.objects.filter(score__gt=0).values_list("score", flat=True)
        assert sorted(scores) == sorted(t for t in range(1, TASKS) for _ in range(ROUNDS))
        # Many client connections, few server connections: the pooling was real.
        pids = set(await asyncio.gather(*(backend_pid(pdb) for _ in range(30))))
        assert len(opened) > SERVER_POOL
        assert 1 <= len(pids) <= SERVER_POOL


async def test_without_the_preset_the_workload_fails(db: Database, pgbouncer: Bouncer) -> None:
    async with Database(pgbouncer.url, name="raw", **CLIENT_POOL) as pdb:
        requests, errors = await run_workload(pdb)
    failed = sum(errors.values())
    prepared = sum(n for message, n in errors.items() if "prepared statement" in message)
    print(
        f"No preset: {requests} statements from {TASKS} tasks; {failed} tasks failed, "
        f"{prepared} of them with a prepared-statement error; e.g. {next(iter(errors), '')}"
    )
    assert failed > 0
    assert prepared > 0
    # Each prepared-statement error says which setting fixes it.
    hinted = sum(n for message, n in errors.items() if message.endswith(" [hint]"))
    assert hinted == prepared, errors


async def test_a_startup_parameter_pgbouncer_refuses_names_the_fix(
    db: Database, pgbouncer: Bouncer
) -> None:
    timed = Database(pgbouncer.url, name="timed", statement_timeout=5)
    with pytest.raises(DatabaseUnavailableError) as caught:
        await timed.connect()
    message = str(caught.value)
    assert "unsupported startup parameter" in message
    assert "PgBouncer" in message and "ALTER ROLE" in message
    assert "DATABASE_PGBOUNCER=true" in message
    assert "Check that the server is running" not in message
    assert not timed.is_connected


RESTART_POOL = {"pool_size": 5, "max_overflow": 0}
CALLS_AFTER_RESTART = 10


async def calls_after_a_restart(
    pgbouncer: Bouncer, *, session_first: bool = False, **options: object
) -> list[tuple[int, ORMKitError]]:
    """Fill a pool of 5 with connections through PgBouncer, restart PgBouncer (every pooled
    connection is now dead), then make ``CALLS_AFTER_RESTART`` calls one after another,
    direct ones (autocommit) and units of work in turn (a unit of work first if
    ``session_first``); return the failed ones (call number, error)."""
    async with Database(
        pgbouncer.url, name="bounced", pgbouncer=True, **RESTART_POOL, **options
    ) as pdb:
        users = User.objects.using(pdb)
        await users.create(email="ann@x.io")
        assert await asyncio.gather(*(users.count() for _ in range(5))) == [1] * 5
        assert pdb.engine.pool.checkedin() == 5  # type: ignore[attr-defined]
        pgbouncer.restart()
        failures: list[tuple[int, ORMKitError]] = []
        for call in range(CALLS_AFTER_RESTART):
            try:
                if (call % 2 == 0) == session_first:
                    async with pdb.session():
                        assert await User.objects.count() == 1
                else:
                    assert await users.count() == 1
            except ORMKitError as exc:
                failures.append((call, exc))
        print(f"{options or 'no pre-ping'}: failures after a restart: {failures}")
        return failures


@pytest.mark.parametrize("session_first", [False, True], ids=["direct-first", "session-first"])
async def test_a_restart_costs_one_failed_call_at_most(
    db: Database, pgbouncer: Bouncer, session_first: bool
) -> None:
    # As without pgbouncer=True: the first call finds its connection dead, which tells the
    # pool that all its connections are (a disconnect invalidates the pool); the rest work.
    failures = await calls_after_a_restart(pgbouncer, session_first=session_first)
    assert [call for call, _ in failures] in ([], [0])
    assert all(isinstance(exc, DatabaseUnavailableError) for _, exc in failures), failures


async def test_with_pre_ping_a_restart_costs_no_call(db: Database, pgbouncer: Bouncer) -> None:
    assert await calls_after_a_restart(pgbouncer, pool_pre_ping=True) == []


async def test_a_constraint_checked_at_commit_is_a_conflict(
    db: Database, pgbouncer: Bouncer
) -> None:
    # A deferred constraint fails at the COMMIT pgbouncer=True adds around an autocommit
    # statement: a ConflictError, the connection stays good, the pool is not dropped.
    create = text(
        "CREATE TABLE bounce_deferred (code int, CONSTRAINT uq_bounce_code UNIQUE (code) "
        "DEFERRABLE INITIALLY DEFERRED)"
    )
    async with db.engine.begin() as conn:
        await conn.execute(create)
    try:
        async with Database(pgbouncer.url, name="bounced", pgbouncer=True, **RESTART_POOL) as pdb:
            opened: list[object] = []
            event.listen(pdb.engine.sync_engine, "connect", lambda conn, _r: opened.append(conn))
            insert = text("INSERT INTO bounce_deferred VALUES (1), (1)")
            with pytest.raises(ConflictError, match="uq_bounce_code"), translated():
                await pdb.run_direct(insert, lambda r: None)
            count = text("SELECT count(*) FROM bounce_deferred")
            with translated():
                assert await pdb.run_direct(count, lambda r: r.scalar_one()) == 0
            assert opened == []  # the connection connect() opened served both
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP TABLE bounce_deferred"))
