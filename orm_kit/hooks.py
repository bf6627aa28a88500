"""Session events that make the mixins' rules hold for the unit of work too.

Declared on ``OrmKitSession``, the session class of every orm_kit ``Database``, so they
apply to orm_kit's own session work *and* to raw SQLAlchemy use of those sessions —
never to sessions orm_kit did not create.

* ``after_flush`` — fires on every flush, before the commit: writes the ``audit_log``
  rows of tracked models (``AuditLogMixin``) in the same transaction.
* ``before_flush`` — fires on every flush (``save()``, ``create()`` in a session,
  ``session.add`` / ``session.delete`` + flush or commit). Refuses writes to read-only
  models, and values that do not fit their column's type (``ValidationError``), before
  any SQL is sent. Bulk statements do not flush, so it does not fire for
  ``QuerySet.update()`` / ``delete()``; those check on their own.
* ``do_orm_execute`` — fires for every statement executed on the session (selects,
  ORM-enabled ``insert()`` / ``update()`` / ``delete()``), including orm_kit's own.
  Refuses ORM-enabled writes to read-only models, and adds "``deleted_at IS NULL``" for
  soft-delete models to selects and to the relationship loads they trigger
  (``with_deleted()`` turns it off with the ``orm_kit_deleted`` execution option).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import (
    Mapper,
    ORMExecuteState,
    Session,
    UOWTransaction,
    with_loader_criteria,
)
from sqlalchemy.sql.elements import ClauseElement

from orm_kit.history import audit_log_table, audit_rows_for_flush
from orm_kit.mixins.soft_delete import SoftDeleteMixin
from orm_kit.query.meta import get_model_info
from orm_kit.rules import check_writable

__all__ = ["DELETED_OPTION", "OrmKitSession"]

DELETED_OPTION = "orm_kit_deleted"
"""Execution option: ``"hide"`` (default), ``"include"`` or ``"only"`` soft-deleted rows."""


class OrmKitSession(Session):
    """The synchronous session class behind orm_kit's ``AsyncSession`` objects."""


_SOFT_REACH: dict[Mapper[Any], bool] = {}


def _reaches_soft_delete(mapper: Mapper[Any]) -> bool:
    """Whether a query of ``mapper`` can load a soft-delete model (itself or through
    relationships); memoized, so plain models pay nothing for the soft-delete rule."""
    cached = _SOFT_REACH.get(mapper)
    if cached is not None:
        return cached
    seen: set[Mapper[Any]] = set()
    todo = [mapper]
    found = False
    while todo and not found:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        found = issubclass(current.class_, SoftDeleteMixin)
        todo.extend(rel.mapper for rel in current.relationships)
    _SOFT_REACH[mapper] = found
    return found


@event.listens_for(OrmKitSession, "before_flush")
def _refuse_read_only_flushes(
    session: Session, flush_context: UOWTransaction, instances: Any
) -> None:
    for obj in (*session.new, *session.deleted):
        check_writable(type(obj), "a flush")
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False):
            check_writable(type(obj), "a flush")


@event.listens_for(OrmKitSession, "before_flush")
def _check_values(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    # The same type checks as create() / update() (orm_kit.query.values), before any SQL:
    # every column value of a new instance, the changed columns of a loaded one.
    for obj in session.new:
        info = get_model_info(type(obj))
        data = obj.__dict__
        for key in info.write_checks.keys() & data.keys():
            _check(info, key, data[key])
    for obj in session.dirty:
        info = get_model_info(type(obj))
        changed = sa_inspect(obj).committed_state.keys() & info.write_checks.keys()
        for key in changed:
            _check(info, key, obj.__dict__.get(key))


def _check(info: Any, key: str, value: Any) -> None:
    if not isinstance(value, ClauseElement):
        info.checked(key, value)


@event.listens_for(OrmKitSession, "after_flush")
def _write_audit_log(session: Session, flush_context: UOWTransaction) -> None:
    # Fires after every flush, before commit, while attribute history still holds the old
    # values: the audit rows go into the same transaction as the change.
    rows = audit_rows_for_flush(session)
    if rows:
        session.connection().execute(insert(audit_log_table()), rows)


@event.listens_for(OrmKitSession, "do_orm_execute")
def _apply_mixin_rules(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        for mapper in state.all_mappers:
            check_writable(mapper.class_, "an ORM insert/update/delete statement")
        return
    if (
        state.is_select
        and not state.is_column_load
        and not state.is_relationship_load  # the criteria propagate to those loads
        and state.execution_options.get(DELETED_OPTION, "hide") == "hide"
        and any(_reaches_soft_delete(mapper) for mapper in state.all_mappers)
    ):
        state.statement = state.statement.options(
            with_loader_criteria(
                SoftDeleteMixin, lambda cls: cls.deleted_at.is_(None), include_aliases=True
            )
        )
