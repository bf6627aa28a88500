"""``SoftDeleteMixin``: ``delete()`` sets ``deleted_at``; default queries hide those rows.

Hidden everywhere reads happen: the default manager and every QuerySet built from it
(``get``, ``count``, ``exists``, ``values``, aggregates, ``update``), lookups across
relationships, ``select_related`` / ``prefetch_related`` / ``fetch_related``, and
ORM selects run on any session, orm_kit's or not (a session event adds the criterion). Use
``with_deleted()`` / ``only_deleted()`` or ``Model.all_objects`` to see them, ``restore()``
to bring them back and ``hard_delete()`` to remove rows for good.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self

from sqlalchemy import Index, event, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column, with_loader_criteria
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.schema import CreateIndex, DropIndex
from sqlalchemy.sql.compiler import DDLCompiler
from sqlalchemy.sql.elements import conv

from orm_kit.query.executor import delete_instance
from orm_kit.query.manager import Manager
from orm_kit.query.queryset import ModelT, QuerySet
from orm_kit.rules import Rule, Visibility, register_rule
from orm_kit.types import MIXIN_SORT_ORDER, UTCDateTime, utcnow

if TYPE_CHECKING:
    from orm_kit.database import Database

__all__ = [
    "LIVE",
    "LIVE_FLAG_PREFIX",
    "AllObjectsManager",
    "SoftDeleteMixin",
    "is_live_only",
    "live_flag_name",
    "unique_among_live",
]


class AllObjectsManager(Manager[ModelT]):
    """A manager that sees soft-deleted rows too (``Model.all_objects``)."""

    def get_queryset(self) -> QuerySet[ModelT]:
        return super().get_queryset().with_deleted()


class _Write:
    """The pending write of ``soft_delete()`` / ``restore()``: awaiting it runs one UPDATE
    of ``deleted_at`` by primary key; not awaiting it leaves the change to the session."""

    def __init__(self, obj: Any, using: Any) -> None:
        self.obj, self.using = obj, using

    def __await__(self) -> Generator[Any, None, Any]:
        return self._run().__await__()

    async def _run(self) -> Any:
        obj = self.obj
        value = obj.__dict__.get("deleted_at")
        await obj._by_pk(self.using).update(deleted_at=value)
        set_committed_value(obj, "deleted_at", value)
        return obj


class SoftDeleteMixin:
    """Adds ``deleted_at`` (indexed); see the module docstring for where it applies."""

    __orm_kit_soft_delete__: ClassVar[bool] = True

    deleted_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=None, index=True, sort_order=MIXIN_SORT_ORDER
    )

    all_objects: ClassVar[AllObjectsManager[Self]] = AllObjectsManager()

    @property
    def is_deleted(self) -> bool:
        """Whether this instance is soft-deleted."""
        return self.__dict__.get("deleted_at") is not None

    def _by_pk(self, using: Database | str | None) -> QuerySet[Any]:
        qs: QuerySet[Any] = (
            QuerySet(type(self))
            .with_deleted()
            .filter(
                pk=self._require_pk("change")  # type: ignore[attr-defined]
            )
        )
        return qs.using(using) if using is not None else qs

    def soft_delete(self, *, using: Database | str | None = None) -> _Write:
        """Mark this instance deleted now; ``await`` it to write the row at once.

        The change is an ordinary attribute change, so inside a session it is also written
        by the next flush or commit (``obj.soft_delete(); await session.commit()`` as in
        hand-written repositories). ``await obj.delete()`` does the same in one step.
        """
        self.deleted_at = utcnow()
        return _Write(self, using)

    def restore(self, *, using: Database | str | None = None) -> _Write:
        """Undo a soft delete of this instance; ``await`` it to write the row at once.

        Like ``soft_delete``, the in-memory change is also picked up by a session's
        next flush or commit.
        """
        self.deleted_at = None
        return _Write(self, using)

    async def hard_delete(self, *, using: Database | str | None = None) -> int:
        """Delete this instance's row for good; return the row count."""

        async def operation(target: Any) -> int:
            return await self._by_pk(target).hard_delete()

        return await delete_instance(self, using, operation, soft=False)


class _SoftDeleteRule(Rule):
    """Hides rows whose ``deleted_at`` is set; a delete sets it, a restore clears it."""

    def applies(self, model: type[Any]) -> bool:
        return issubclass(model, SoftDeleteMixin)

    def row_filter(
        self, model: type[Any], column: Callable[[str], Any], visibility: Visibility
    ) -> Any:
        if visibility == "include":
            return None
        deleted_at = column("deleted_at")
        return deleted_at.is_(None) if visibility == "hide" else deleted_at.is_not(None)

    def loader_option(self) -> Any:
        return with_loader_criteria(
            SoftDeleteMixin, lambda cls: cls.deleted_at.is_(None), include_aliases=True
        )

    def delete_values(self, model: type[Any]) -> dict[str, Any] | None:
        return {"deleted_at": utcnow()}

    def restore_values(self, model: type[Any]) -> dict[str, Any] | None:
        return {"deleted_at": None}


register_rule(_SoftDeleteRule())


def unique_among_live(*columns: str) -> Index:
    """A unique index over ``columns`` that only counts rows not soft-deleted.

    A partial index (``WHERE deleted_at IS NULL``) on PostgreSQL and SQLite, so the value
    of a deleted row can be used again. Put it in ``__table_args__``; it is named
    ``uq_<table>_<columns>`` like the naming convention's unique constraints, so a
    violation's ``ConflictError.constraint`` is that name on every backend.

    MariaDB / MySQL have no partial indexes: there the index also covers a hidden
    (``INVISIBLE``) virtual column, ``orm_kit_live_<index name>``, that is 1 while the row
    is live and NULL once it is deleted, and a unique index does not compare rows with a
    NULL in it: the same rule, kept by the server.

    Example:
        ```python
        class Member(Model, SoftDeleteMixin):
            __table_args__ = (unique_among_live("email"),)
            email: Mapped[str] = mapped_column(String(255))
        ```
    """
    live = text(LIVE)
    index = Index(None, *columns, unique=True, postgresql_where=live, sqlite_where=live)
    index.info[_LIVE_ONLY] = True

    @event.listens_for(index, "after_parent_attach")
    def _name(target: Index, table: Any) -> None:
        target.name = conv(f"uq_{table.name}_{'_'.join(columns)}")

    return index


LIVE = "deleted_at IS NULL"
"""The condition of a ``unique_among_live()`` index (a partial index's ``WHERE``)."""
_LIVE_ONLY = "orm_kit_unique_among_live"
LIVE_FLAG_PREFIX = "orm_kit_live_"
"""The name prefix of the hidden columns of ``unique_among_live()`` on MariaDB / MySQL."""
_MYSQL_NAME_LIMIT = 64


def is_live_only(index: Index, *, unique: bool = True) -> bool:
    """Whether ``index`` is a ``unique_among_live()`` index: made by it, or (in a migration,
    which rebuilds the index from its arguments) unique with ``WHERE deleted_at IS NULL``
    (``unique=False``: whether unique or not, as ``op.drop_index()`` does not say)."""
    if index.info.get(_LIVE_ONLY):
        return True
    wheres = (index.dialect_kwargs.get(f"{d}_where") for d in ("postgresql", "sqlite"))
    return (bool(index.unique) or not unique) and any(
        w is not None and " ".join(str(w).split()).lower() == LIVE.lower() for w in wheres
    )


def live_flag_name(index_name: str) -> str:
    """The hidden column of the ``unique_among_live()`` index ``index_name`` on MariaDB /
    MySQL (a hash of the index name when the name would pass MySQL's 64 characters)."""
    name = LIVE_FLAG_PREFIX + index_name
    if len(name) <= _MYSQL_NAME_LIMIT:
        return name
    return LIVE_FLAG_PREFIX + hashlib.sha1(index_name.encode()).hexdigest()[:20]


@compiles(CreateIndex, "mysql")
def _create_index_mysql(element: CreateIndex, compiler: DDLCompiler, **kw: Any) -> str:
    index = element.element
    if not (isinstance(index, Index) and index.table is not None and is_live_only(index)):
        sql: str = compiler.visit_create_index(element, **kw)  # type: ignore[no-untyped-call]
        return sql
    quote = compiler.preparer.quote
    flag = quote(live_flag_name(str(index.name)))
    columns = ", ".join(quote(column.name) for column in index.columns)
    # NOTE(mysql): IF NOT EXISTS (MariaDB only): a column left behind by a drop_index that
    # did not say what the index was (see _drop_index_mysql) is taken over.
    exists = " IF NOT EXISTS" if getattr(compiler.dialect, "is_mariadb", False) else ""
    return (
        f"ALTER TABLE {compiler.preparer.format_table(index.table)} "
        f"ADD COLUMN{exists} {flag} TINYINT AS "
        f"(CASE WHEN {quote('deleted_at')} IS NULL THEN 1 END) VIRTUAL INVISIBLE, "
        f"ADD UNIQUE INDEX {compiler.preparer.format_index(index)} ({columns}, {flag})"
    )


@compiles(DropIndex, "mysql")
def _drop_index_mysql(element: DropIndex, compiler: DDLCompiler, **kw: Any) -> str:
    index = element.element
    mariadb = getattr(compiler.dialect, "is_mariadb", False)
    # The hidden column goes with its index. A migration's op.drop_index() carries the
    # index's WHERE (orm_kit's autogenerate writes it) but not whether it was unique: on
    # MariaDB the column is dropped if it exists; on MySQL (no IF EXISTS) when the index is
    # known to be unique, else left (invisible, unused; a new index takes it over).
    if not (
        isinstance(index, Index)
        and index.table is not None
        and is_live_only(index, unique=not mariadb)
    ):
        sql: str = compiler.visit_drop_index(element, **kw)  # type: ignore[no-untyped-call]
        return sql
    flag = compiler.preparer.quote(live_flag_name(str(index.name)))
    return (
        f"ALTER TABLE {compiler.preparer.format_table(index.table)} "
        f"DROP INDEX {compiler.preparer.format_index(index)}, "
        f"DROP COLUMN{' IF EXISTS' if mariadb else ''} {flag}"
    )
