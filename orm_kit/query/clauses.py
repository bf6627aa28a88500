"""Filter keys to WHERE clauses: ``field__lookup=value`` on a column, or through
relationships as EXISTS subqueries (``author__name__icontains="a"``).

The entry point of filtering (``filter()``, ``exclude()``, ``Q``): it sends a key on a
column to the lookup resolver (``orm_kit.query.lookups``) and a key through a
relationship here, where the rest of the key is resolved again on the related model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, not_, or_
from sqlalchemy.orm import RelationshipProperty
from sqlalchemy.sql.elements import ColumnElement

from orm_kit.exceptions import InvalidLookupError
from orm_kit.query.lookups.registry import UNBOUND
from orm_kit.query.lookups.registry import lookups as registry
from orm_kit.query.lookups.resolver import ResolvedLookup, empty_part_error, resolve_field_lookup
from orm_kit.query.meta import get_model_info
from orm_kit.query.relations import live_criterion, relationship_of
from orm_kit.query.resolvable import Resolvable

__all__ = ["resolve_grouped", "resolve_lookup", "resolve_relation", "split_relation_key"]


def resolve_lookup(model: type[Any], key: str, value: Any) -> ResolvedLookup:
    """Turn ``field__transform__lookup=value`` into a SQLAlchemy clause, following
    relationships (``author__name__icontains``) as EXISTS subqueries.

    Raises:
        InvalidLookupError: Unknown field, relationship, transform or lookup, or a lookup
            that does not apply to the column's type (the message lists the valid choices).
        ValidationError: A value the lookup cannot take (wrong type for the column,
            ``None`` where only ``isnull`` means NULL, ...).
    """
    if isinstance(key, str):
        split = split_relation_key(model, key)
        if split is not None:
            rel, rest = split
            clause = resolve_relation(model, rel, [(rest, value)])
            return ResolvedLookup(clause, "relation", UNBOUND, rest == "")
    return resolve_field_lookup(model, key, value)


def resolve_relation(
    model: type[Any], rel: RelationshipProperty[Any], lookups: Iterable[tuple[str, Any]]
) -> ColumnElement[bool]:
    """EXISTS through ``rel`` for lookups on the related model (keys without the prefix).

    An empty key compares with the related object itself (``author=user``) or its primary
    key (``author=3``); ``isnull`` asks whether any related row exists.
    """
    attr = getattr(model, rel.key)
    target = rel.mapper.class_
    to_many = rel.uselist
    live = live_criterion(target, target)  # soft-deleted related rows never match
    inner: list[ColumnElement[bool]] = [] if live is None else [live]
    lookups = list(lookups)
    for key, value in lookups:
        if key == "isnull":
            if not isinstance(value, bool):
                raise InvalidLookupError(
                    f"The 'isnull' lookup on {model.__name__}.{rel.key} takes True or False."
                )
            exists: ColumnElement[bool] = (attr.any if to_many else attr.has)(*inner[:1])
            return not_(exists) if value else exists
        if key == "" and isinstance(value, target):
            if not to_many:
                return attr == value  # type: ignore[no-any-return]
            key, value = "pk", value.pk
        value = _outer(model, value)
        inner.append(resolve_lookup(target, key or "pk", value).clause)
    condition = and_(*inner) if len(inner) > 1 else inner[0]
    clause: ColumnElement[bool] = attr.any(condition) if to_many else attr.has(condition)
    if all(key.endswith("__isnull") and value is True for key, value in lookups):
        # Django's rule (a LEFT JOIN there): author__name__isnull=True also matches rows
        # with no related row at all, where the related field is NULL too.
        alive = () if live is None else (live,)
        none: ColumnElement[bool] = not_((attr.any if to_many else attr.has)(*alive))
        clause = or_(clause, none)
    return clause


def _outer(model: type[Any], value: Any) -> Any:
    """``value`` with its ``F()`` expressions resolved on ``model``, the queried model (as in
    Django: ``author__score=F("views")`` compares with the post's own ``views``), before the
    lookup descends to the related model; the EXISTS subquery correlates them. Aggregates
    are left for the resolver to refuse."""
    if isinstance(value, Resolvable) and not value.contains_aggregate:
        return value.resolve(model)
    if type(value) in (list, tuple) and any(isinstance(v, Resolvable) for v in value):
        return type(value)(_outer(model, v) for v in value)
    return value


def split_relation_key(model: type[Any], key: str) -> tuple[RelationshipProperty[Any], str] | None:
    """``("author", "name__icontains")`` for ``author__name__icontains`` on a relationship."""
    field, _, rest = key.partition("__")
    rel = relationship_of(model, field)
    if rel is None:
        return None
    if "" in key.split("__"):
        raise empty_part_error(model, key)
    # "author__in=[...]" / "author__gt=3" compare the related primary key.
    if rest and "__" not in rest and rest != "isnull":
        target_info = get_model_info(rel.mapper.class_)
        pk_type = target_info.columns[target_info.pk_key].type
        if rest not in target_info.attribute_keys and rest in registry.names(pk_type):
            rest = f"pk__{rest}"
    return rel, rest


def resolve_grouped(model: type[Any], items: list[tuple[str, Any]]) -> list[Any]:
    """Resolve ``(key, value)`` lookups into ``ResolvedLookup``
    objects, grouping those through one relationship so they must hold for the same
    related row (Django's rule within one ``filter()`` call)."""
    resolved: list[Any] = []
    groups: dict[str, tuple[RelationshipProperty[Any], list[tuple[str, Any]]]] = {}
    for key, value in items:
        split = split_relation_key(model, key)
        if split is None:
            resolved.append(resolve_lookup(model, key, value))
            continue
        rel, rest = split
        groups.setdefault(rel.key, (rel, []))[1].append((rest, value))
    for rel, lookups in groups.values():
        pairs = [[pair] for pair in lookups if pair[0] == "isnull"]
        others = [(k, v) for k, v in lookups if k != "isnull"]
        if others:
            pairs.append(others)
        for group in pairs:
            clause = resolve_relation(model, rel, group)
            direct = any(k == "" for k, _ in group)  # author=obj compares the foreign key
            resolved.append(ResolvedLookup(clause, "relation", UNBOUND, direct))
    return resolved
