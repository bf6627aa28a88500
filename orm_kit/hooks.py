"""Session events that make the model rules hold for the unit of work too.

Listened for on SQLAlchemy's base ``Session`` class, so they apply to orm_kit's own
session work, to raw SQLAlchemy use of its sessions, *and* to sessions orm_kit did not
make (``async_sessionmaker(db.engine)()``, a session on an engine of the user's own):
no session that touches an orm_kit model is left unprotected. Each listener does nothing
unless an orm_kit model is involved — a model of a registry registered with
``register_registry`` (``orm_kit.model`` registers ``Model.registry``) — so the user's
own declarative models in the same process are untouched. They ask the hook point
(``orm_kit.rules``), so they know no mixin. Installed when ``orm_kit.model`` is imported.

* ``before_flush`` — fires on every flush (``save()``, ``create()`` in a session,
  ``session.add`` / ``session.delete`` + flush or commit). Asks the rules' write check
  (read-only models are refused), and refuses values that do not fit their column's type
  (``ValidationError``), before any SQL is sent. Bulk statements do not flush, so it does
  not fire for ``QuerySet.update()`` / ``delete()``; those check on their own.
* ``after_flush`` — fires on every flush, before the commit: runs the statements the
  rules add for it (the audit log's rows) in the same transaction; and records the
  nullable columns an ``INSERT`` left out (no default of any kind) as loaded ``None``, as
  the row holds NULL there, so reading them later (a read schema) needs no SQL.
* ``do_orm_execute`` — fires for every statement executed on the session (selects,
  ORM-enabled ``insert()`` / ``update()`` / ``delete()``), including orm_kit's own.
  Asks the write check for ORM-enabled writes, and adds the rules' loader options (soft
  delete hides deleted rows) to selects and to the relationship loads they trigger
  (``with_deleted()`` turns them off with the ``orm_kit_deleted`` execution option).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, UOWTransaction, registry
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import ClauseElement

from orm_kit import rules
from orm_kit.query.meta import get_model_info
from orm_kit.unit_of_work import DELETED_OPTION, OrmKitSession

__all__ = ["DELETED_OPTION", "OrmKitSession", "is_orm_kit_model", "register_registry"]

_REGISTRIES: list[registry] = []
_OURS: dict[type[Any], bool] = {}

_REACH: dict[Mapper[Any], tuple[rules.Rule, ...]] = {}
_OPTION: dict[rules.Rule, Any] = {}
_VERSION = [-1]


def register_registry(models: registry) -> None:
    """Make the session events apply to the models mapped by ``models`` (the model layer
    registers ``Model.registry``: this layer knows no models)."""
    if models not in _REGISTRIES:
        _REGISTRIES.append(models)
        _OURS.clear()


def is_orm_kit_model(cls: type[Any]) -> bool:
    """Whether ``cls`` is mapped by a registered (orm_kit) registry (memoized per class)."""
    known = _OURS.get(cls)
    if known is None:
        mapper = sa_inspect(cls, raiseerr=False)
        known = _OURS[cls] = isinstance(mapper, Mapper) and mapper.registry in _REGISTRIES
    return known


def _involves_ours(session: Session) -> bool:
    return any(
        is_orm_kit_model(type(obj)) for obj in (*session.new, *session.dirty, *session.deleted)
    )


def _reachable_rules(mapper: Mapper[Any]) -> tuple[rules.Rule, ...]:
    """The rules of ``mapper``'s model and of every model reachable from it through
    relationships (memoized, so plain models pay nothing)."""
    if _VERSION[0] != rules.version():
        _REACH.clear()
        _OPTION.clear()
        _VERSION[0] = rules.version()
    cached = _REACH.get(mapper)
    if cached is not None:
        return cached
    seen: set[Mapper[Any]] = set()
    todo = [mapper]
    found: list[rules.Rule] = []
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(rel.mapper for rel in current.relationships)
        found.extend(r for r in rules.rules_for(current.class_) if r not in found)
    _REACH[mapper] = tuple(found)
    return _REACH[mapper]


def _option(rule: rules.Rule) -> Any:
    if rule not in _OPTION:
        _OPTION[rule] = rule.loader_option()
    return _OPTION[rule]


@event.listens_for(Session, "before_flush")
def _check_flushed_writes(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    for obj in (*session.new, *session.deleted):
        if is_orm_kit_model(type(obj)):
            rules.check_write(type(obj), "a flush")
    for obj in session.dirty:
        if is_orm_kit_model(type(obj)) and session.is_modified(obj, include_collections=False):
            rules.check_write(type(obj), "a flush")


@event.listens_for(Session, "before_flush")
def _check_values(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    # The same type checks as create() / update() (orm_kit.query.values), before any SQL:
    # every column value of a new instance, the changed columns of a loaded one.
    for obj in session.new:
        if not is_orm_kit_model(type(obj)):
            continue
        info = get_model_info(type(obj))
        data = obj.__dict__
        for key in info.write_checks.keys() & data.keys():
            _check(info, key, data[key])
    for obj in session.dirty:
        if not is_orm_kit_model(type(obj)):
            continue
        info = get_model_info(type(obj))
        changed = sa_inspect(obj).committed_state.keys() & info.write_checks.keys()
        for key in changed:
            _check(info, key, obj.__dict__.get(key))


def _check(info: Any, key: str, value: Any) -> None:
    if not isinstance(value, ClauseElement):
        info.checked(key, value)


@event.listens_for(Session, "after_flush")
def _run_follow_ups(session: Session, flush_context: UOWTransaction) -> None:
    # Fires after every flush, before commit, while attribute history still holds the old
    # values: the rules' statements go into the same transaction as the change.
    if not _involves_ours(session):
        return
    for stmt, rows in rules.after_flush(session):
        session.connection().execute(stmt, rows)


@event.listens_for(Session, "after_flush")
def _load_omitted_nulls(session: Session, flush_context: UOWTransaction) -> None:
    # SQLAlchemy leaves a column the INSERT did not name unloaded, so reading it on an async
    # session would need a lazy load. With no client or server default (nor a computed or
    # identity value), the database stored NULL: record that. `session.new` still holds
    # the objects this flush inserted.
    for obj in session.new:
        if not is_orm_kit_model(type(obj)):
            continue
        data = obj.__dict__
        for key, column in get_model_info(type(obj)).table_columns.items():
            if (
                key not in data
                and column.nullable
                and column.default is None
                and column.server_default is None
                and column.computed is None
                and column.identity is None
            ):
                set_committed_value(obj, key, None)


@event.listens_for(Session, "do_orm_execute")
def _apply_rules(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        for mapper in state.all_mappers:
            if is_orm_kit_model(mapper.class_):
                rules.check_write(mapper.class_, "an ORM insert/update/delete statement")
        return
    if (
        state.is_select
        and not state.is_column_load
        and not state.is_relationship_load  # the criteria propagate to those loads
        and state.execution_options.get(DELETED_OPTION, "hide") == "hide"
    ):
        found: list[rules.Rule] = []
        for mapper in state.all_mappers:
            if is_orm_kit_model(mapper.class_):
                found.extend(r for r in _reachable_rules(mapper) if r not in found)
        options = [opt for opt in map(_option, found) if opt is not None]
        if options:
            state.statement = state.statement.options(*options)
