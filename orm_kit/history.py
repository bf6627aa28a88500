"""The audit log: ``AuditLogMixin`` and one ``audit_log`` row per change, in the same
transaction.

Opt in per model. Every insert, update (the changed fields, old → new) and delete of a
tracked model writes a row with the actor (``acting_as()``) and a timestamp:

* through the unit of work (``save()``, ``create()``, ``session.add`` / ``session.delete``
  and flush) by the ``after_flush`` session event, while the old values are still known;
* for set-based ``QuerySet.update()`` / ``delete()`` / ``restore()``, one row recording the
  statement's filter names and the values written (the rows' old values are never read);
* for ``obj.delete()`` (soft or hard), one ``delete`` / ``soft_delete`` row for the object.

Writes to tracked models always run in a transaction, so a rollback leaves no audit rows
and a committed change always has one. The rule behind this registers with the hook point
(``orm_kit.rules``): the write paths and the session events ask it, never this module.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import JSON, Column, Index, Integer, String, Table, insert, inspect
from sqlalchemy.orm import Session

from orm_kit.context import current_actor
from orm_kit.model import Model
from orm_kit.rules import Rule, WriteEvent, register_rule
from orm_kit.types import UTCDateTime, utcnow

__all__ = [
    "AuditLogMixin",
    "audit_log_table",
    "audit_rows_for_flush",
    "audit_value",
    "is_tracked",
]

_TABLE = "audit_log"


def audit_log_table() -> Table:
    """The ``audit_log`` table on ``Model.metadata`` (declared the first time it is needed)."""
    existing = Model.metadata.tables.get(_TABLE)
    if existing is not None:
        return existing
    return Table(
        _TABLE,
        Model.metadata,
        Column("id", Integer, primary_key=True),
        Column("model", String(100), nullable=False),
        Column("object_id", String(64)),
        Column("action", String(16), nullable=False),
        Column("changes", JSON, nullable=False),
        Column("actor", String(255)),
        Column("at", UTCDateTime, nullable=False, default=utcnow),
        Index("ix_audit_log_model_object_id", "model", "object_id"),
    )


class AuditLogMixin:
    """Record every change of this model in ``audit_log`` (see the module docstring)."""

    __orm_kit_track_history__: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        audit_log_table()


def is_tracked(model: type[Any]) -> bool:
    """Whether ``model`` records its history in ``audit_log``."""
    return bool(getattr(model, "__orm_kit_track_history__", False))


def audit_value(value: Any) -> Any:
    """A JSON-safe form of a column value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    try:
        json.dumps(value)
    except TypeError:
        return repr(value)
    return value


def _object_id(obj: Any) -> str | None:
    # The key values themselves: in after_flush a new object has them but no identity yet.
    values = inspect(obj).mapper.primary_key_from_instance(obj)
    if any(v is None for v in values):
        return None
    return ",".join(str(v) for v in values)


def entry(model: type[Any], object_id: str | None, action: str, changes: Any) -> dict[str, Any]:
    """One audit row (the ``at`` timestamp is filled by its column default)."""
    return {
        "model": model.__name__,
        "object_id": object_id,
        "action": action,
        "changes": changes,
        "actor": current_actor(),
    }


def audit_rows_for_flush(session: Session) -> list[dict[str, Any]]:
    """Audit rows for the tracked objects of a flush, computed in ``after_flush``."""
    rows: list[dict[str, Any]] = []
    for obj in session.new:
        if is_tracked(type(obj)):
            state = inspect(obj)
            column_keys = {prop.key for prop in state.mapper.column_attrs}
            values = {
                attr.key: [None, audit_value(attr.value)]
                for attr in state.attrs
                if attr.key in column_keys
            }
            rows.append(entry(type(obj), _object_id(obj), "insert", values))
    for obj in session.dirty:
        if is_tracked(type(obj)) and session.is_modified(obj, include_collections=False):
            state = inspect(obj)
            changes = {}
            for key in (prop.key for prop in state.mapper.column_attrs):
                history = state.attrs[key].history
                if history.has_changes():
                    old = history.deleted[0] if history.deleted else None
                    new = history.added[0] if history.added else None
                    changes[key] = [audit_value(old), audit_value(new)]
            if changes:
                rows.append(entry(type(obj), _object_id(obj), "update", changes))
    for obj in session.deleted:
        if is_tracked(type(obj)):
            rows.append(entry(type(obj), _object_id(obj), "delete", {}))
    return rows


class _AuditLogRule(Rule):
    """Writes of tracked models go with their ``audit_log`` rows, in one transaction."""

    def applies(self, model: type[Any]) -> bool:
        return is_tracked(model)

    def records(self, model: type[Any]) -> bool:
        return True

    def after_write(self, event: WriteEvent) -> list[tuple[Any, list[dict[str, Any]]]]:
        model = event.model
        if event.action == "insert":  # bulk_create: the instances, keys and values filled
            rows = [
                entry(
                    model,
                    str(obj.pk),
                    "insert",
                    {k: [None, audit_value(v)] for k, v in obj.to_dict().items()},
                )
                for obj in event.objects
            ]
        elif event.objects:  # one instance deleted (soft or for good)
            rows = [entry(model, str(obj.pk), event.action, {}) for obj in event.objects]
        else:  # a set-based update / delete: its filter names and values, not the rows
            changes = {
                "filter": list(event.filters),
                "values": {k: audit_value(v) for k, v in event.values.items()},
            }
            rows = [entry(model, None, event.action, changes)]
        return [(insert(audit_log_table()), rows)] if rows else []

    def after_flush(self, session: Any) -> list[tuple[Any, list[dict[str, Any]]]]:
        rows = audit_rows_for_flush(session)
        return [(insert(audit_log_table()), rows)] if rows else []


register_rule(_AuditLogRule())
