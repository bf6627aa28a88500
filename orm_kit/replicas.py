"""Read replicas: which engine a read runs on, replica health with a cool-down, and
read-your-writes for the task that wrote.

``Database(url, replicas=[...])`` builds a ``ReplicaRouter``. The database asks it where a
read outside any unit of work runs (``run_direct``, ``read_session``, streaming); everything
else stays on the primary. The router learns of writes from listeners on the primary's
engine and records them per task in a ContextVar.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar, cast

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, Result
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql import Executable
from sqlalchemy.sql.selectable import CompoundSelect, Select

from orm_kit.dialects import DIRECT_OPTION
from orm_kit.engine import build_engine
from orm_kit.exceptions import ValidationError, _find_driver_error, _is_unavailable
from orm_kit.settings import DatabaseSettings
from orm_kit.unit_of_work import OrmKitSession
from orm_kit.urls import normalize_url

__all__ = [
    "DEFAULT_LAG_WINDOW",
    "Replica",
    "ReplicaRouter",
    "check_replica_options",
    "primary",
    "wal_end",
]

logger = logging.getLogger("orm_kit")

DEFAULT_LAG_WINDOW = 2.0
"""Seconds a task's reads stay on the primary after a write where the server reports no
WAL positions (every backend but PostgreSQL)."""

LSN_RECHECK = 0.05
"""Seconds a replica's replayed position is trusted before it is asked again, while a task
waits for a write to reach it."""

PROBE_OPTION = "orm_kit_replica_probe"
"""Execution option of the router's own statements (WAL positions): never taken for a write."""

# Statement words that never change data; any other text statement may (``SELECT
# nextval()``, a function that writes, COPY after one), so it counts as a write.
_CONTROL_WORDS = frozenset(
    {"BEGIN", "START", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "SET", "RESET", "SHOW"}
)
_WROTE = "orm_kit_replica_wrote"

# NOTE(postgresql): the insert position, not the write position (pg_current_wal_lsn()),
# covers commits with synchronous_commit=off too. Right after a page (or segment) header
# it lies past the end of the last record, which is where a standby's replay stops: wal_end()
# moves it back.
_PRIMARY_LSN = text(
    "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint, "
    "current_setting('wal_block_size')::bigint, "
    "(SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size')"
).execution_options(**{PROBE_OPTION: True})
_REPLAYED = text(
    "SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"
).execution_options(**{PROBE_OPTION: True})

ResultT = TypeVar("ResultT")
Runner = Callable[[AsyncEngine, Executable, Callable[[Result[Any]], Any], Any], Awaitable[Any]]


def check_replica_options(replicas: object, lag_window: object, cooldown: object) -> None:
    """Refuse ``replica_lag_window`` / ``replica_cooldown`` values that are not numbers,
    and a ``replica_lag_window`` given without ``replicas`` (it would do nothing).

    Raises:
        ValidationError: Naming the keyword and what to pass.
    """
    for keyword, value in (("replica_lag_window", lag_window), ("replica_cooldown", cooldown)):
        if value is None and keyword == "replica_lag_window":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ValidationError(
                f"Database({keyword}={value!r}): {keyword} is a number of seconds; pass an "
                "int or a float >= 0."
            )
    if lag_window is not None and not replicas:
        raise ValidationError(
            f"Database(replica_lag_window={lag_window!r}) was given without replicas=: it only "
            "tunes the routing of reads to replicas. Pass replicas=[url, ...] too, or drop it."
        )


def wal_end(insert_lsn: int, block_size: int, segment_size: int) -> int:
    """The WAL position a standby reports once it has replayed everything before
    ``insert_lsn`` (the primary's insert position).

    Right after a page header (24 bytes; 40 on a segment's first page) the insert position
    is past the end of the last record, where ``pg_last_wal_replay_lsn()`` stops.
    """
    if insert_lsn % segment_size == 40:
        return insert_lsn - 40
    if insert_lsn % block_size == 24:
        return insert_lsn - 24
    return insert_lsn


@dataclass(frozen=True, slots=True)
class _Mark:
    """The last write of a task: when, and (fetched on its next read) the primary's WAL
    position after it."""

    at: float
    lsn: int | None = None


_EMPTY: Mapping[int, _Mark] = MappingProxyType({})
_marks: ContextVar[Mapping[int, _Mark]] = ContextVar("orm_kit_replica_marks", default=_EMPTY)
_force_primary: ContextVar[bool] = ContextVar("orm_kit_force_primary", default=False)
_serial = itertools.count(1)


@contextmanager
def primary() -> Iterator[None]:
    """Send every read inside the block to the primary, on every database.

    Task-local, like the read-your-writes tracking: it holds for the running task and for
    the tasks it starts inside the block.

    Example:
        ```python
        from orm_kit.replicas import primary

        with primary():
            user = await User.objects.get(id=user_id)   # never a replica
        ```
    """
    token = _force_primary.set(True)
    try:
        yield
    finally:
        _force_primary.reset(token)


def is_plain_read(stmt: Executable) -> bool:
    """Whether ``stmt`` may run on a replica: a ``select()`` (or UNION ...) without FOR UPDATE.

    Text statements never do: their SQL may call functions that write.
    """
    return isinstance(stmt, Select | CompoundSelect) and stmt._for_update_arg is None


def _is_write(statement: str, context: Any) -> bool:
    if context is None or context.execution_options.get(PROBE_OPTION):
        return False
    if context.isinsert or context.isupdate or context.isdelete or context.isddl:
        return True
    if context.compiled is not None and not context.is_text:
        return False  # a select() construct
    words = statement.lstrip().split(None, 1)
    return not words or words[0].upper() not in _CONTROL_WORDS


def _unreachable(exc: BaseException) -> bool:
    # A DBAPI error without a statement was raised while connecting (bad database name,
    # authentication, the server starting up): the replica cannot serve reads either way.
    return _is_unavailable(exc) or (isinstance(exc, DBAPIError) and exc.statement is None)


def _recovery_conflict(exc: BaseException) -> bool:
    # NOTE(postgresql): a hot standby cancels a query whose rows replay must remove
    # (SQLSTATE 40001, "conflict with recovery"); a read can run again on the primary.
    return str(getattr(_find_driver_error(exc), "sqlstate", "") or "") == "40001"


@dataclass(eq=False, slots=True)
class Replica:
    """One replica: its engines and what the router knows of its health and progress."""

    url: URL
    engine: AsyncEngine
    direct: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    down_until: float = 0.0
    """``time.monotonic()`` before which it is skipped (it failed; 0: healthy)."""
    replayed: int | None = None
    """The last WAL position it reported as replayed (``None``: not asked yet)."""
    checked_at: float = float("-inf")
    standby: bool = True
    """``False`` once it reported it is not in recovery (a primary: always current)."""

    @property
    def name(self) -> str:
        """The URL without its password."""
        return self.url.render_as_string(hide_password=True)


class ReplicaRouter:
    """Chooses the engine of each read outside a unit of work (see docs/guide/replicas.md).

    Args:
        urls: The replicas' URLs (same dialect as the primary).
        dialect: The primary's dialect name.
        settings: Pool and driver settings, as the primary's.
        engine_kwargs: Engine keyword arguments, as the primary's.
        lag_window: Seconds a task's reads stay on the primary after it wrote, instead of
            comparing WAL positions. ``None``: WAL positions on PostgreSQL, else
            ``DEFAULT_LAG_WINDOW``.
        cooldown: Seconds a replica that failed is skipped before it is tried again.
    """

    def __init__(
        self,
        urls: Sequence[str | URL],
        dialect: str,
        settings: DatabaseSettings,
        engine_kwargs: dict[str, Any],
        *,
        lag_window: float | None,
        cooldown: float,
    ) -> None:
        if isinstance(urls, str | URL):
            raise ValidationError(
                "replicas= takes a list of URLs, not one URL: "
                "Database(url, replicas=[replica_url])."
            )
        self.urls = [normalize_url(url) for url in urls]
        for url in self.urls:
            if url.get_backend_name() != dialect:
                raise ValidationError(
                    f"Replica {url.render_as_string(hide_password=True)} is not a {dialect} "
                    "database like the primary; every replica must be a copy of the primary."
                )
        if (lag_window is not None and lag_window < 0) or cooldown < 0:
            raise ValidationError("replica_lag_window and replica_cooldown must not be negative.")
        self.lsn = lag_window is None and dialect == "postgresql"
        """Whether read-your-writes compares WAL positions (else: a time window)."""
        self.lag_window = DEFAULT_LAG_WINDOW if lag_window is None else lag_window
        self.cooldown = cooldown
        self.replicas: list[Replica] = []
        self._dialect, self._settings, self._engine_kwargs = dialect, settings, engine_kwargs
        self._key = next(_serial)
        self._turn = itertools.count()
        self._primary: AsyncEngine | None = None
        self._run: Runner | None = None

    # --- lifecycle ----------------------------------------------------------------------

    async def connect(
        self, primary_engine: AsyncEngine, primary_direct: AsyncEngine, run: Runner
    ) -> None:
        """Build each replica's engines and listen for writes on the primary's.

        A replica that does not answer is logged and skipped for a cool-down, never fatal:
        reads go to the primary meanwhile.
        """
        self._primary, self._run = primary_direct, run
        sync = primary_engine.sync_engine
        event.listen(sync, "after_cursor_execute", self._after_execute)
        event.listen(sync, "commit", self._on_commit)
        event.listen(sync, "rollback", self._on_rollback)
        for url in self.urls:
            engine = build_engine(url, self._settings, self._engine_kwargs)
            options: dict[str, Any] = {DIRECT_OPTION: True}
            if self._dialect not in ("sqlite", "mysql"):  # autocommit already
                options["isolation_level"] = "AUTOCOMMIT"
            direct = engine.execution_options(**options)
            maker = async_sessionmaker(
                direct, expire_on_commit=False, sync_session_class=OrmKitSession
            )
            replica = Replica(url, engine, direct, maker)
            self.replicas.append(replica)
            try:
                await run(direct, text("SELECT 1"), _scalar, None)
            except Exception as exc:  # whatever it is, the primary can serve the reads
                self._down(replica, exc)

    async def dispose(self, primary_engine: AsyncEngine) -> None:
        """Dispose of the replicas' engines and stop listening on the primary's."""
        sync = primary_engine.sync_engine
        event.remove(sync, "after_cursor_execute", self._after_execute)
        event.remove(sync, "commit", self._on_commit)
        event.remove(sync, "rollback", self._on_rollback)
        replicas, self.replicas = self.replicas, []
        for replica in replicas:
            await replica.engine.dispose()

    # --- write tracking (listeners on the primary's engine, run in the writing task) ----

    def _after_execute(
        self, conn: Connection, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if not _is_write(statement, context):
            return
        if context.execution_options.get(DIRECT_OPTION):
            self._wrote()  # autocommit: committed already
        else:
            conn.info[_WROTE] = True  # counts once the transaction commits

    def _on_commit(self, conn: Connection) -> None:
        if conn.info.pop(_WROTE, False):
            self._wrote()

    def _on_rollback(self, conn: Connection) -> None:
        conn.info.pop(_WROTE, None)

    def _wrote(self) -> None:
        # The greenlet SQLAlchemy runs this in shares the task's context, so the task sees it.
        self._set_mark(_Mark(time.monotonic()))

    def _set_mark(self, mark: _Mark) -> None:
        _marks.set(MappingProxyType({**_marks.get(), self._key: mark}))

    def pending(self) -> bool:
        """Whether the running task wrote and its reads wait for the replicas to replay it."""
        return self._key in _marks.get()

    # --- choosing -----------------------------------------------------------------------

    async def _candidates(self) -> list[Replica]:
        """The replicas a read of the running task may use, in the order to try them."""
        if _force_primary.get():
            return []
        now = time.monotonic()
        n = len(self.replicas)
        start = next(self._turn) % n if n > 1 else 0
        live = [r for r in self.replicas[start:] + self.replicas[:start] if r.down_until <= now]
        mark = _marks.get().get(self._key)
        if mark is None or not live:
            return live
        if not self.lsn:
            return live if now - mark.at >= self.lag_window else []
        lsn = mark.lsn
        if lsn is None:
            lsn = await self._primary_lsn()
            if lsn is None:
                return []
            self._set_mark(_Mark(mark.at, lsn))
        for i, replica in enumerate(live):
            # The first one that has replayed the write, then the others known to have.
            if await self._replayed(replica, lsn):
                rest = live[i + 1 :]
                return [replica, *(r for r in rest if not r.standby or (r.replayed or 0) >= lsn)]
        return []

    async def _primary_lsn(self) -> int | None:
        assert self._primary is not None
        assert self._run is not None
        try:
            row = await self._run(self._primary, _PRIMARY_LSN, _one, None)
        except Exception as exc:
            if _unreachable(exc):
                return None  # the read on the primary reports it
            logger.warning(
                "The primary does not report its WAL position (%s); read-your-writes uses a "
                "%.1f s window instead (set replica_lag_window= to choose it).",
                type(_find_driver_error(exc)).__name__,
                self.lag_window,
            )
            self.lsn = False
            return None
        return wal_end(int(row[0]), int(row[1]), int(row[2]))

    async def _replayed(self, replica: Replica, lsn: int) -> bool:
        if not replica.standby or (replica.replayed is not None and replica.replayed >= lsn):
            return True
        now = time.monotonic()
        if now - replica.checked_at < LSN_RECHECK:
            return False  # asked a moment ago: still behind
        assert self._run is not None
        try:
            row = await self._run(replica.direct, _REPLAYED, _one, None)
        except Exception as exc:  # a replica that cannot say how far it is cannot serve
            self._down(replica, exc)
            return False
        replica.checked_at = now
        if not row[0]:
            replica.standby = False  # not in recovery: it is a primary (itself, promoted)
            return True
        replica.replayed = max(replica.replayed or 0, int(row[1] or 0))
        return replica.replayed >= lsn

    # --- health -------------------------------------------------------------------------

    def _down(self, replica: Replica, exc: BaseException) -> None:
        now = time.monotonic()
        if replica.down_until > now:
            return  # another read saw it fail already: one warning per cool-down
        replica.down_until = now + self.cooldown
        logger.warning(
            "Read replica %s is unreachable (%s); reads go to another replica or the primary "
            "for %.1f s, then it is tried again.",
            replica.name,
            type(_find_driver_error(exc)).__name__,
            self.cooldown,
        )

    def _up(self, replica: Replica) -> None:
        if replica.down_until:
            replica.down_until = 0.0
            logger.info("Read replica %s answers again; reads go to it.", replica.name)

    # --- the three read paths -----------------------------------------------------------

    async def read(
        self, stmt: Executable, consume: Callable[[Result[Any]], ResultT], params: Any
    ) -> ResultT:
        """Run a read on the first replica that can serve it, else on the primary."""
        assert self._primary is not None
        assert self._run is not None
        for replica in await self._candidates():
            try:
                result = await self._run(replica.direct, stmt, consume, params)
            except Exception as exc:
                if self._skip(replica, exc):
                    continue
                raise
            self._up(replica)
            return cast(ResultT, result)
        return cast(ResultT, await self._run(self._primary, stmt, consume, params))

    def _skip(self, replica: Replica, exc: Exception) -> bool:
        if _unreachable(exc):
            self._down(replica, exc)
            return True
        if _recovery_conflict(exc):
            logger.info("A read on replica %s conflicted with recovery; retried.", replica.name)
            return True
        return False

    async def open_session(
        self, primary_maker: async_sessionmaker[AsyncSession], open_: Callable[[Any], AsyncSession]
    ) -> AsyncSession:
        """Open an autocommit read session on a replica that answers, else on the primary."""
        for replica in await self._candidates():
            session = open_(replica.sessionmaker)
            try:
                await session.connection()  # check out now: an unreachable replica is skipped
            except Exception as exc:
                await session.close()
                if _unreachable(exc):
                    self._down(replica, exc)
                    continue
                raise
            self._up(replica)
            return session
        return open_(primary_maker)

    @asynccontextmanager
    async def read_connection(self, primary_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        """Yield a connection of a replica that answers (else the primary's) for a stream."""
        for replica in await self._candidates():
            try:
                conn = await replica.engine.connect()
            except Exception as exc:
                if _unreachable(exc):
                    self._down(replica, exc)
                    continue
                raise
            self._up(replica)
            try:
                yield conn
            finally:
                await conn.close()
            return
        async with primary_engine.connect() as conn:
            yield conn

    # --- reporting ----------------------------------------------------------------------

    async def info(self) -> list[dict[str, Any]]:
        """Each replica's URL (password hidden), health and, on PostgreSQL, how many bytes
        of WAL it has still to replay (``lag_bytes``; ``None`` where unknown)."""
        assert self._run is not None
        now = time.monotonic()
        primary_lsn = await self._primary_lsn() if self._dialect == "postgresql" else None
        report: list[dict[str, Any]] = []
        for replica in self.replicas:
            healthy = replica.down_until <= now
            lag: int | None = None
            if primary_lsn is not None and healthy:
                try:
                    row = await self._run(replica.direct, _REPLAYED, _one, None)
                except Exception as exc:
                    if not _unreachable(exc):
                        raise
                    self._down(replica, exc)
                    healthy = False
                else:
                    lag = max(0, primary_lsn - int(row[1] or 0)) if row[0] else 0
            report.append({"url": replica.name, "healthy": healthy, "lag_bytes": lag})
        return report


def _scalar(result: Result[Any]) -> Any:
    return result.scalar_one()


def _one(result: Result[Any]) -> Any:
    return result.one()
