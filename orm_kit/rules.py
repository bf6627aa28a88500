"""The hook point: model rules (soft delete, read-only, the audit log ...) register here,
and the query compiler, the write paths and the session events ask it.

The core never names a mixin or one of its columns. It asks "which rows of this model are
visible?", "may this model be written?", "what does deleting a row of it write?", "what
must be recorded with this write?" — and each rule answers for the models it applies to.
A rule is a ``Rule`` subclass instance passed to ``register_rule``; its hooks
default to "nothing to add", so a rule overrides only what it is about.

Hooks and where they are asked (each says whether bulk statements reach it):

* ``Rule.row_filter`` — every SELECT / UPDATE / DELETE the compiler builds for the
  model, every relationship EXISTS and JOIN to it, and (through ``Rule.loader_option``)
  ORM selects and relationship loads on any session (orm_kit's or not).
* ``Rule.check_write`` — before any SQL on every write path: ``create``,
  ``bulk_create``, ``bulk_update``, ``QuerySet.update()`` / ``delete()``, related-object
  writes, flushes and ORM-enabled insert / update / delete statements.
* ``Rule.delete_values`` / ``Rule.restore_values`` — ``QuerySet.delete()`` and
  ``obj.delete()`` become an UPDATE of these values; ``restore()`` writes the others.
* ``Rule.records`` and ``Rule.after_write`` — set-based writes, ``bulk_create``
  and instance deletes of a recorded model run in a transaction together with the
  statements ``after_write`` returns; ``Rule.after_flush`` does the same for the unit
  of work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Rule",
    "Visibility",
    "WriteEvent",
    "after_flush",
    "after_write",
    "check_write",
    "delete_values",
    "instance_write",
    "records",
    "register_rule",
    "restore_values",
    "row_filters",
    "rules_for",
    "unregister_rule",
    "version",
]

Visibility = Literal["hide", "include", "only"]
"""Which rows a query sees: ``"hide"`` (the default: rules hide what they hide),
``"include"`` (``with_deleted()``: nothing hidden) or ``"only"`` (``only_deleted()``: just
the hidden rows)."""


@dataclass(frozen=True, slots=True)
class WriteEvent:
    """A write that has just run, passed to ``Rule.after_write``.

    ``action`` is ``"bulk_update"`` / ``"bulk_delete"`` (a set-based statement, with its
    filter names and the values written), ``"insert"`` (``bulk_create``, with the
    instances), or ``"delete"`` / ``"soft_delete"`` (one instance, ``objects`` holds it).
    """

    model: type[Any]
    action: str
    filters: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)
    objects: Sequence[Any] = ()


FollowUps = list[tuple[Any, list[dict[str, Any]]]]
"""Statements to run in the same transaction, each with its parameter rows."""


class Rule:
    """A rule some models follow. Subclass it, override the hooks that apply, register
    an instance with ``register_rule``."""

    def applies(self, model: type[Any]) -> bool:
        """Whether this rule applies to ``model``."""
        return False

    def row_filter(
        self, model: type[Any], column: Callable[[str], Any], visibility: Visibility
    ) -> Any:
        """A WHERE criterion for the rows of ``model`` visible under ``visibility``, or
        ``None`` for all rows. ``column(key)`` gives the column of attribute ``key`` in the
        statement at hand (the table, or an alias of the model in a join)."""
        return None

    def loader_option(self) -> Any:
        """An ORM option (``with_loader_criteria``) that hides rows from ORM selects and the
        relationship loads they trigger on a session, or ``None``."""
        return None

    def check_write(self, model: type[Any], operation: str) -> None:
        """Raise an ``ORMKitError`` if ``operation`` may not write ``model``."""

    def delete_values(self, model: type[Any]) -> dict[str, Any] | None:
        """The column values a delete writes instead of removing rows, or ``None``."""
        return None

    def restore_values(self, model: type[Any]) -> dict[str, Any] | None:
        """The column values that undo ``delete_values``, or ``None``."""
        return None

    def records(self, model: type[Any]) -> bool:
        """Whether writes of ``model`` must run in a transaction with ``after_write``."""
        return False

    def after_write(self, event: WriteEvent) -> FollowUps:
        """Statements (with their parameter rows) to run after ``event``, in its
        transaction."""
        return []

    def after_flush(self, session: Any) -> FollowUps:
        """Statements to run after a flush of ``session`` (``after_flush`` event), in its
        transaction, while attribute history still holds the old values."""
        return []


_rules: list[Rule] = []
_by_model: dict[type[Any], tuple[Rule, ...]] = {}
_version = [0]


def register_rule(rule: Rule) -> Rule:
    """Add ``rule``; models it applies to follow it from now on. Returns it."""
    _rules.append(rule)
    _changed()
    return rule


def unregister_rule(rule: Rule) -> None:
    """Remove a rule added by ``register_rule`` (tests of custom rules)."""
    _rules.remove(rule)
    _changed()


def _changed() -> None:
    _by_model.clear()
    _version[0] += 1


def version() -> int:
    """A number that changes whenever a rule is added or removed (for callers' memos)."""
    return _version[0]


def rules_for(model: type[Any]) -> tuple[Rule, ...]:
    """The rules that apply to ``model`` (memoized; plain models get ``()``)."""
    found = _by_model.get(model)
    if found is None:
        found = _by_model[model] = tuple(rule for rule in _rules if rule.applies(model))
    return found


def row_filters(
    model: type[Any], column: Callable[[str], Any], visibility: Visibility
) -> list[Any]:
    """The criteria of every rule on ``model`` for rows visible under ``visibility``."""
    out = []
    for rule in rules_for(model):
        criterion = rule.row_filter(model, column, visibility)
        if criterion is not None:
            out.append(criterion)
    return out


def check_write(model: type[Any], operation: str) -> None:
    """Ask every rule on ``model`` whether ``operation`` may write it (raises if not)."""
    for rule in rules_for(model):
        rule.check_write(model, operation)


def delete_values(model: type[Any]) -> dict[str, Any] | None:
    """What a delete of ``model`` rows writes instead (``None``: rows are deleted)."""
    for rule in rules_for(model):
        values = rule.delete_values(model)
        if values is not None:
            return values
    return None


def restore_values(model: type[Any]) -> dict[str, Any] | None:
    """What ``restore()`` writes for ``model`` rows (``None``: nothing to restore)."""
    for rule in rules_for(model):
        values = rule.restore_values(model)
        if values is not None:
            return values
    return None


def records(model: type[Any]) -> bool:
    """Whether some rule records writes of ``model`` (they need a transaction)."""
    return any(rule.records(model) for rule in rules_for(model))


_instance: ContextVar[bool] = ContextVar("orm_kit_instance_write", default=False)


@contextmanager
def instance_write() -> Iterator[None]:
    """Inside, set-based statements are not reported to ``after_write``: they run on
    behalf of an instance operation (``obj.delete()``), which reports itself."""
    token = _instance.set(True)
    try:
        yield
    finally:
        _instance.reset(token)


def after_write(event: WriteEvent) -> FollowUps:
    """The follow-up statements of every rule on ``event.model``."""
    out: FollowUps = []
    if not event.objects and _instance.get():
        return out
    for rule in rules_for(event.model):
        out.extend(rule.after_write(event))
    return out


def after_flush(session: Any) -> FollowUps:
    """The follow-up statements of every registered rule for a flush of ``session``."""
    out: FollowUps = []
    for rule in _rules:
        out.extend(rule.after_flush(session))
    return out
