"""Per-model facts computed once (columns, keys, loaders) so the hot path does no reflection."""

from __future__ import annotations

import inspect as pyinspect
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Column, Table, inspect
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapper, make_transient_to_detached
from sqlalchemy.sql.elements import ColumnElement

from orm_kit.exceptions import ValidationError
from orm_kit.query.values import (
    Checker,
    Rejected,
    check_all,
    checker_for,
    describe,
    first_sql,
    reject,
)

__all__ = [
    "LAZY_STATE",
    "LazyInstanceState",
    "ModelInfo",
    "forget_identity",
    "get_model_info",
    "has_identity",
    "settable_property",
]

# A memo of facts derived from immutable mappings: filled once per model class.
_INFOS: dict[type[Any], ModelInfo] = {}
# Models whose constructor only sets plain columns: the keys of those columns.
_FAST_NEW: dict[type[Any], frozenset[str]] = {}

LAZY_STATE = "_sa_orm_kit_state"
"""The ``__dict__`` key of an instance whose SQLAlchemy ``InstanceState`` is not made yet.

Its value says what the state will be: ``False`` for a new (transient) instance, ``True``
for a detached one loaded from (or just written to) a row, whose identity key comes from
its primary key. The ``_sa`` prefix makes tools that skip SQLAlchemy's own keys (such as
FastAPI's ``jsonable_encoder``) skip it too.
"""


class LazyInstanceState:
    """``Model._sa_instance_state``: SQLAlchemy's per-instance state, made on first use.

    SQLAlchemy reads an instance's state through ``getattr(obj, "_sa_instance_state")``
    and keeps it in the instance ``__dict__``. Instances that orm_kit builds in bulk
    (query results outside a session, the fast constructor) start with only their column
    values and ``LAZY_STATE``; this non-data descriptor makes the state the first time
    SQLAlchemy asks for it (an attribute write, ``session.add()``, ``inspect()``), stores it
    where SQLAlchemy keeps it and removes the marker. Reading loaded columns never needs
    it, so a result that is only read never pays for the state, in time or in memory.
    Instances without the marker (made by SQLAlchemy itself) behave exactly as before.
    """

    def __get__(self, obj: Any, owner: type[Any] | None = None) -> Any:
        if obj is None:  # on the class: there is no state (SQLAlchemy probes for it)
            raise AttributeError("_sa_instance_state")
        data = obj.__dict__
        loaded = data.get(LAZY_STATE)
        if loaded is None:
            # No marker: SQLAlchemy's own instance (no state yet), or another thread has
            # just made the state.
            made = data.get("_sa_instance_state")
            if made is None:
                raise AttributeError("_sa_instance_state")
            return made
        cls = type(obj)
        manager = cls._sa_class_manager
        state = manager._state_constructor(obj, manager)
        if loaded:
            info = _INFOS.get(cls) or get_model_info(cls)  # unpickled in a new process
            state.key = (info.identity_class, tuple(data[k] for k in info.pk_keys), None)
            # Columns the query left out (only() / defer()) load on access, which a
            # detached instance refuses with DetachedInstanceError, as in SQLAlchemy.
            missing = info.column_set.difference(data)
            if missing:
                state.expired_attributes.update(missing)
        # Made in full before it is published; if two threads race, the first one wins.
        state = data.setdefault("_sa_instance_state", state)
        data.pop(LAZY_STATE, None)
        return state


def has_identity(obj: Any) -> bool:
    """Whether ``obj`` stands for a row (it has an identity key), without making its state."""
    data = obj.__dict__
    loaded = data.get(LAZY_STATE)
    if loaded is not None:
        return bool(loaded)
    return obj._sa_instance_state.key is not None


def forget_identity(obj: Any) -> None:
    """Make ``obj`` transient again (its row was never written after all)."""
    data = obj.__dict__
    if LAZY_STATE in data:
        data[LAZY_STATE] = False
    else:
        obj._sa_instance_state.key = None


@dataclass(eq=False)
class ModelInfo:
    """What orm_kit needs to know about a model, computed once per mapper."""

    model: type[Any]
    mapper: Mapper[Any]
    table: Table
    column_keys: tuple[str, ...]
    columns: dict[str, ColumnElement[Any]]  # attribute key -> ORM column expression
    table_columns: dict[str, Column[Any]]  # attribute key -> table Column
    pk_keys: tuple[str, ...]
    relationship_keys: frozenset[str]
    attribute_keys: frozenset[str]
    identity_class: type[Any]
    direct_keys: frozenset[str]
    plain_init: bool
    eager_relationships: bool
    column_set: frozenset[str] = frozenset()  # column_keys as a set
    # Statements that take all their values as execution parameters, built once.
    statements: dict[Any, Any] = field(default_factory=dict)
    # Per table column: the check of values written to it (orm_kit.query.values).
    write_checks: dict[str, Checker] = field(default_factory=dict)
    # Table columns that refuse an explicit None (NOT NULL, not a generated primary key).
    not_null: frozenset[str] = frozenset()

    @property
    def pk_key(self) -> str:
        """The single primary-key attribute (the first one of a composite key)."""
        return self.pk_keys[0]

    def identity(self, values: dict[str, Any]) -> tuple[Any, ...]:
        """The SQLAlchemy identity key of a row whose column values are ``values``."""
        return (self.identity_class, tuple(values[k] for k in self.pk_keys), None)

    def mark_loaded(self, obj: Any) -> None:
        """Make a transient ``obj`` whose ``__dict__`` holds its row a detached, loaded one.

        Equivalent to ``make_transient_to_detached`` for the common case (nothing pending
        to commit), without its per-attribute bookkeeping: this runs once per row.
        """
        data = obj.__dict__
        if LAZY_STATE in data:  # no state yet: it will be made with the identity key
            data[LAZY_STATE] = True
            return
        state = obj._sa_instance_state
        if state.committed_state or state.modified:
            make_transient_to_detached(obj)
            return
        if len(self.pk_keys) == 1:
            state.key = (self.identity_class, (data[self.pk_keys[0]],), None)
        else:
            state.key = self.identity(data)

    def build(self, keys: tuple[str, ...], row: Any) -> Any:
        """Make a detached, loaded instance from ``row`` (values in ``keys`` order)."""
        return self.build_all(keys, (row,))[0]

    def build_all(self, keys: tuple[str, ...], rows: Any) -> list[Any]:
        """Make detached, loaded instances from rows (values in ``keys`` order).

        Columns left out of ``keys`` (``only()`` / ``defer()``) stay unloaded; touching
        one on the detached instance raises SQLAlchemy's ``DetachedInstanceError``.

        The keys go into the dict Python makes for the instance in the order
        ``_share_instance_keys`` fixed for the model, so that CPython keeps it a
        key-sharing dict (memory only, see there).
        """
        cls = self.model
        new = cast(Any, cls).__new__
        out: list[Any] = []
        append = out.append
        for row in rows:
            obj = new(cls)
            data = obj.__dict__
            data.update(zip(keys, row, strict=False))
            data[LAZY_STATE] = True
            append(obj)
        return out

    def checked(self, key: str, value: Any) -> Any:
        """``value`` as it will be written to column ``key``, checked against its type.

        An explicit ``None`` for a NOT NULL column is refused, as the database would refuse
        it (SQLAlchemy's unit of work would instead quietly use the column's default, so the
        two write paths disagreed); leave the field unset to get its default. Keys that are
        not table columns pass.

        Raises:
            ValidationError: The value cannot be stored in the column.
        """
        if value is None:
            if key in self.not_null:
                raise self._none_refused(key)
            return value
        check = self.write_checks.get(key)
        if check is None:
            return value
        try:
            return check(value)
        except Rejected as exc:
            raise reject(f"{self.model.__name__}.{key}", exc, value) from None

    def with_pk_key(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` with Django's ``pk`` alias named by the primary-key attribute."""
        if "pk" not in values or len(self.pk_keys) != 1:
            return values
        key = self.pk_key
        if key in values and not _same_value(values[key], values["pk"]):
            # One would silently win over the other (get_or_create(id=5, defaults={"pk":
            # None}) would create a row whose id is not 5).
            raise ValidationError(
                f"{self.model.__name__} got both {key}={values[key]!r} and pk={values['pk']!r}; "
                f"pk is another name for {key}, so give one of them."
            )
        return {key if k == "pk" else k: v for k, v in values.items()}

    def _none_refused(self, key: str) -> ValidationError:
        return ValidationError(
            f"{self.model.__name__}.{key} cannot be None: the column is NOT NULL. Leave it "
            "unset to use its default, or give a value."
        )

    def checked_all(self, key: str, values: list[Any], operation: str) -> list[Any]:
        """``checked`` for many values of column ``key`` at once (``operation``, a bulk
        write, which binds values: a SQL expression among them is refused)."""
        sql = first_sql(values)
        if sql is not None:
            raise ValidationError(
                f"{operation} writes values, and {self.model.__name__}.{key} was given a SQL "
                f"expression ({describe(sql)}); use create() / save() for rows whose values "
                "the database computes, or QuerySet.update() to set them afterwards."
            )
        if key in self.not_null and None in values:
            raise self._none_refused(key)
        check = self.write_checks.get(key)
        if check is None:
            return values
        try:
            return check_all(check, values)
        except Rejected as exc:
            bad = next((v for v in values if v is not None and not _passes(check, v)), None)
            raise reject(f"{self.model.__name__}.{key}", exc, bad) from None

    def plain_column(self, key: str) -> bool:
        """Whether ``key`` is a column the constructor may write straight into ``__dict__``
        (no validators or attribute listeners that a normal set would fire)."""
        return key in self.direct_keys


def settable_property(cls: type[Any], name: str) -> bool:
    """Whether ``name`` is a public property (or hybrid property) of ``cls`` with a setter
    (the constructor takes those besides fields, as Django's does)."""
    if not isinstance(name, str) or name.startswith("_"):
        return False
    try:
        attr = pyinspect.getattr_static(cls, name)
    except AttributeError:
        return False
    return isinstance(attr, property | hybrid_property) and attr.fset is not None


def _passes(check: Checker, value: Any) -> bool:
    try:
        check(value)
    except Rejected:
        return False
    return True


def _plain_init(mapper: Mapper[Any]) -> bool:
    """Whether constructing the model does nothing but set attributes.

    True when the class keeps orm_kit's ``Model.__init__``, has no polymorphic identity to
    set, and no ``init`` event listener other than the mapper's own configure check
    (which has run by the time this is computed).
    """
    manager = mapper.class_manager
    init = manager.original_init
    listeners = [getattr(fn, "__name__", "") for fn in manager.dispatch.init]
    return (
        getattr(init, "__qualname__", "") == "Model.__init__"
        and mapper.polymorphic_identity is None
        and listeners in ([], ["_event_on_init"])
    )


def get_model_info(model: type[Any]) -> ModelInfo:
    """Return (computing once) the ``ModelInfo`` of ``model``."""
    cached = _INFOS.get(model)
    if cached is not None:
        return cached
    mapper: Mapper[Any] = inspect(model)
    columns: dict[str, ColumnElement[Any]] = {}
    table_columns: dict[str, Column[Any]] = {}
    for prop in mapper.column_attrs:
        col = prop.columns[0]
        if isinstance(col, Column) and len(prop.columns) == 1:
            # Plain table columns compare and compile faster than ORM attributes.
            table_columns[prop.key] = col
            columns[prop.key] = col
        else:
            columns[prop.key] = getattr(model, prop.key)
    pk_keys = tuple(mapper.get_property_by_column(c).key for c in mapper.primary_key)
    rel_keys = frozenset(r.key for r in mapper.relationships)
    info = ModelInfo(
        model=model,
        mapper=mapper,
        table=cast(Table, mapper.local_table),
        column_keys=tuple(columns),
        column_set=frozenset(columns),
        columns=columns,
        table_columns=table_columns,
        pk_keys=pk_keys,
        relationship_keys=rel_keys,
        eager_relationships=any(
            r.lazy in ("joined", "selectin", "subquery", "immediate") for r in mapper.relationships
        ),
        attribute_keys=frozenset(columns) | rel_keys | frozenset(mapper.synonyms.keys()),
        identity_class=mapper.identity_key_from_primary_key((None,) * len(pk_keys))[0],
        plain_init=_plain_init(mapper),
        direct_keys=frozenset(
            key
            for key in table_columns
            if key not in mapper.validators
            and not mapper.class_manager[key].dispatch.set
            and not mapper.class_manager[key].dispatch.modified
        ),
    )
    info.not_null = frozenset(
        key
        for key, column in table_columns.items()
        if not column.nullable
        and not (column.primary_key and column.autoincrement in (True, "auto"))
    )
    for key, column in table_columns.items():
        check = checker_for(column.type, write=True)
        if check is not None:
            info.write_checks[key] = check
    _INFOS[model] = info
    if info.plain_init:
        _FAST_NEW[model] = info.direct_keys
    _share_instance_keys(model, info.column_keys)
    return info


def _share_instance_keys(model: type[Any], keys: tuple[str, ...]) -> None:
    """Set the columns, then the lazy-state flag, on a throwaway instance of ``model``.

    Memory, not behaviour: CPython lets the instance dicts of a class share one table of
    keys, in the order keys were first set on one of them; a dict filled in another order
    gets a table of its own, sized for growth. Setting them here first, in the order
    ``build_all`` sets them, keeps the dicts of loaded rows shared (W5 of the benchmarks:
    ~607 B an object on PostgreSQL against ~948 B). Only the class's first instance fixes
    the order, so this runs before any other is made (``ModelMeta.__call__`` asks for the
    ModelInfo first); an instance SQLAlchemy made earlier (a plain ``select(Model)`` in a
    session) leaves the dicts unshared, as they were before."""
    probe = cast(Any, model).__new__(model)
    data = probe.__dict__
    for key in keys:
        data[key] = None
    data[LAZY_STATE] = True


def _same_value(a: Any, b: Any) -> bool:
    """Whether two values given for one column are the same (False when they cannot even be
    compared, as a signalling NaN cannot)."""
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:  # an arbitrary __eq__ (decimal.InvalidOperation, TypeError, ...)
        return False
