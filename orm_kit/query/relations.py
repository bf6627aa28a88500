"""Relationships: lookups that follow them, loader options, and the not-loaded guard.

* ``author__name__icontains="a"`` becomes ``EXISTS`` through the relationship
  (``Post.author.has(...)`` for to-one, ``Post.tags.any(...)`` for to-many), to any
  depth, so a filter through a to-many relation never duplicates the parent rows, and
  ``exclude`` means "no related row matches", as in Django. Lookups on the same to-many
  relation in one ``filter()`` call must match the same related row.
* ``select_related`` / ``prefetch_related`` paths become ``joinedload`` /
  ``selectinload`` options.
* Relationships of orm_kit models default to a loader that raises
  ``RelationNotLoadedError`` instead of lazy-loading (which
  async code cannot do) — on detached instances too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import RelationshipProperty, aliased, joinedload, selectinload, strategies
from sqlalchemy.orm.base import PassiveFlag
from sqlalchemy.sql.elements import ColumnElement

from orm_kit import rules
from orm_kit.exceptions import InvalidLookupError, RelationNotLoadedError
from orm_kit.query.lookups.registry import lookups
from orm_kit.query.lookups.resolver import expression_lookup, field_column
from orm_kit.query.meta import get_model_info

__all__ = [
    "NOT_LOADED",
    "loader_options",
    "relationship_of",
]

NOT_LOADED = "orm_kit"
"""The ``lazy=`` strategy orm_kit gives relationships declared without one."""


def _not_loaded_error(state: Any, key: str) -> RelationNotLoadedError:
    model = state.class_.__name__
    rel = state.mapper.relationships.get(key)
    if rel is not None and rel.uselist:
        # select_related() follows to-one relations only: suggesting it would fail.
        with_query = f".prefetch_related('{key}')"
    else:
        with_query = f".select_related('{key}') (a JOIN) or .prefetch_related('{key}')"
    return RelationNotLoadedError(
        f"{model}.{key} was not loaded, and async code cannot load it on access. Load it "
        f"with the query: {with_query}, or on the instance: await obj.fetch_related('{key}')."
    )


# SQLAlchemy's lazy loader: `_LazyLoader` since 2.1, `LazyLoader` before. orm_kit extends
# it (rather than wrapping attribute access) so eager loading and identity-map hits work
# exactly as with SQLAlchemy's own `lazy="raise_on_sql"`.
_LazyLoader: Any = vars(strategies).get("_LazyLoader") or vars(strategies)["LazyLoader"]


@RelationshipProperty.strategy_for(lazy=NOT_LOADED)
class _NotLoadedLoader(_LazyLoader):  # type: ignore[misc]
    """``lazy="raise_on_sql"`` that raises orm_kit's error, also on detached instances.

    Values already present (loaded eagerly, or found in the session's identity map for a
    many-to-one) are returned without SQL, as with ``raise_on_sql``.
    """

    def __init__(self, parent: Any, strategy_key: Any) -> None:
        super().__init__(parent, strategy_key)
        self._raise_on_sql = True

    def _load_for_state(self, state: Any, passive: Any, *args: Any, **kwargs: Any) -> Any:
        if (
            state.key is not None
            and state.session is None
            and passive & PassiveFlag.SQL_OK
            and not passive & PassiveFlag.NO_RAISE
        ):
            raise _not_loaded_error(state, self.key)
        return super()._load_for_state(state, passive, *args, **kwargs)

    def _invoke_raise_load(self, state: Any, passive: Any, lazy: Any) -> None:
        raise _not_loaded_error(state, self.key)


def default_lazy(namespace: dict[str, Any]) -> None:
    """Give relationships declared in a class body orm_kit's not-loaded guard.

    Only relationships left at SQLAlchemy's default ``lazy="select"`` change; an explicit
    ``selectin`` / ``joined`` / ``raise`` ... is kept.
    """
    for value in namespace.values():
        if isinstance(value, RelationshipProperty) and value.lazy == "select":
            value.lazy = NOT_LOADED  # type: ignore[assignment]
            value.strategy_key = (("lazy", NOT_LOADED),)


def live_criterion(entity: Any, model: type[Any]) -> ColumnElement[bool] | None:
    """The rules' criterion for visible rows of ``model`` on ``entity`` (the model or an
    alias of it): related rows a rule hides (soft-deleted ones) never match or join."""
    criteria = rules.row_filters(model, lambda key: getattr(entity, key), "hide")
    if not criteria:
        return None
    return criteria[0] if len(criteria) == 1 else and_(*criteria)


def relationship_of(model: type[Any], name: str) -> RelationshipProperty[Any] | None:
    """The relationship ``name`` of ``model``, or ``None``."""
    info = get_model_info(model)
    if name not in info.relationship_keys:
        return None
    return info.mapper.relationships[name]


def _unknown_relation(model: type[Any], name: str) -> InvalidLookupError:
    info = get_model_info(model)
    relations = sorted(info.relationship_keys)
    listed = ", ".join(relations) if relations else "none"
    return InvalidLookupError(
        f"{model.__name__} has no relationship {name!r}. Its relationships: {listed}."
    )


def _path_options(model: type[Any], path: str, loader: Any, *, to_one_only: bool) -> Any:
    option = None
    current = model
    for name in path.split("__"):
        rel = relationship_of(current, name)
        if rel is None:
            raise _unknown_relation(current, name)
        if to_one_only and rel.uselist:
            raise InvalidLookupError(
                f"select_related() follows to-one relationships only; "
                f"{current.__name__}.{name} is to-many. Use prefetch_related({path!r})."
            )
        attr = getattr(current, name)
        option = loader(attr) if option is None else getattr(option, loader.__name__)(attr)
        current = rel.mapper.class_
    return option


def check_paths(model: type[Any], paths: Iterable[str], *, to_one_only: bool) -> tuple[str, ...]:
    """Validate relationship paths now, so a typo fails where it is written."""
    out = tuple(paths)
    for path in out:
        if not isinstance(path, str):
            raise InvalidLookupError(
                f"Relationship paths of {model.__name__} are strings, not {type(path).__name__}."
            )
        _path_options(model, path, joinedload, to_one_only=to_one_only)
    return out


def loader_options(model: type[Any], select: Iterable[str], prefetch: Iterable[str]) -> list[Any]:
    """``joinedload`` options for ``select_related`` and ``selectinload`` for
    ``prefetch_related`` paths."""
    options = [_path_options(model, p, joinedload, to_one_only=True) for p in select]
    options += [_path_options(model, p, selectinload, to_one_only=False) for p in prefetch]
    return options


JoinPath = tuple[str, Any, Any]
"""A join a query needs: (relationship path, aliased target, ON clause attribute)."""


def path_column(
    model: type[Any], joins: tuple[JoinPath, ...], name: str
) -> tuple[ColumnElement[Any], tuple[JoinPath, ...]]:
    """The column behind ``author__name`` and the joins it needs (existing ones reused).

    Every relationship path gets its own alias, so two paths to the same model
    (``author__name`` and ``post__author__name``) never mix.

    Raises:
        InvalidLookupError: A part is not a relationship, or the last is not a column.
    """
    *rel_names, column_name = name.split("__")
    known = {path: (alias, on) for path, alias, on in joins}
    added = list(joins)
    entity: Any = model
    current = model
    path = ""
    for rel_name in rel_names:
        rel = relationship_of(current, rel_name)
        if rel is None:
            raise _unknown_relation(current, rel_name)
        path = f"{path}__{rel_name}" if path else rel_name
        if path not in known:
            alias = aliased(rel.mapper.class_)
            onclause = getattr(entity, rel_name).of_type(alias)
            live = live_criterion(alias, rel.mapper.class_)
            known[path] = (alias, onclause if live is None else onclause.and_(live))
            added.append((path, *known[path]))
        entity = known[path][0]
        current = rel.mapper.class_
    field_column(current, column_name)  # validates, with the usual message
    key = get_model_info(current).pk_key if column_name == "pk" else column_name
    column: ColumnElement[Any] = getattr(entity, key)
    return column, tuple(added)


def apply_joins(stmt: Any, joins: tuple[JoinPath, ...]) -> Any:
    """Add the LEFT OUTER JOINs of ``joins`` to ``stmt`` (parents before children)."""
    for _, _, onclause in joins:
        stmt = stmt.outerjoin(onclause)
    return stmt


def _split_path(model: type[Any], name: str) -> tuple[list[str], str | None, type[Any]]:
    """``"posts__views"`` → (["posts"], "views", Post); ``"posts"`` → (["posts"], None, Post)."""
    rels: list[str] = []
    current = model
    parts = name.split("__")
    for i, part in enumerate(parts):
        rel = relationship_of(current, part)
        if rel is None:
            return rels, "__".join(parts[i:]), current
        rels.append(part)
        current = rel.mapper.class_
    return rels, None, current


def joined_column_for(
    model: type[Any], joins: tuple[JoinPath, ...]
) -> tuple[Any, list[tuple[JoinPath, ...]]]:
    """A ``column_for`` for aggregates over joins, and a box holding the joins it needs."""
    box = [joins]

    def column_for(name: str) -> ColumnElement[Any]:
        _, column_name, _ = _split_path(model, name)
        full = name if column_name is not None else f"{name}__pk"
        column, box[0] = path_column(model, box[0], full)
        return column

    return column_for, box


def correlated_aggregate(model: type[Any], aggregate: Any) -> ColumnElement[Any]:
    """The aggregate over each row's related rows, as a correlated scalar subquery.

    ``User.objects.annotate(n=Count("posts"))`` becomes
    ``(SELECT count(p.id) FROM user u JOIN post p ON ... WHERE u.id = user.id)``: several
    such annotations never multiply each other's rows, and filtering on one is a plain
    WHERE.
    """
    root = aliased(model)
    info = get_model_info(model)
    joins: list[Any] = []
    entities: dict[str, Any] = {}  # relationship path -> its alias, shared by aggregate and filter

    def column_for(name: str) -> ColumnElement[Any]:
        rels, column_name, target = _split_path(model, name)
        entity: Any = root
        current = model
        path = ""
        for rel_name in rels:
            rel = relationship_of(current, rel_name)
            assert rel is not None
            path = f"{path}__{rel_name}"
            if path not in entities:
                entities[path] = aliased(rel.mapper.class_)
                joins.append(getattr(entity, rel_name).of_type(entities[path]))
            entity, current = entities[path], rel.mapper.class_
        key = column_name if column_name not in (None, "pk") else get_model_info(target).pk_key
        column: ColumnElement[Any] = getattr(entity, key)
        return column

    value = aggregate.resolve(model, column_for)
    sub = select(value).select_from(root)
    for onclause in joins:
        sub = sub.join(onclause)
    for path, alias in entities.items():
        target = relationship_target(model, path)
        live = live_criterion(alias, target)
        if live is not None:
            sub = sub.where(live)
    for key in info.pk_keys:
        sub = sub.where(getattr(root, key) == getattr(model, key))
    result: ColumnElement[Any] = sub.scalar_subquery()
    return result


def relationship_target(model: type[Any], path: str) -> type[Any]:
    """The model at the end of relationship path ``"__posts__comments"`` from ``model``."""
    current = model
    for name in path.strip("_").split("__"):
        rel = relationship_of(current, name)
        assert rel is not None
        current = rel.mapper.class_
    return current


def filter_through(
    model: type[Any], column_for: Any, key: str, value: Any
) -> ColumnElement[bool] | None:
    """Resolve an aggregate's ``filter=`` lookup through the rows the aggregate joins.

    ``Count("posts", filter=Q(posts__views__gt=5))`` tests the same joined post row the
    aggregate counts. Lookups on the model's own columns return ``None`` (resolved as
    usual).
    """
    rels, rest, target = _split_path(model, key)
    if not rels:
        return None
    column_name, *parts = (rest or "pk").split("__")
    target_info = get_model_info(target)
    if column_name not in target_info.attribute_keys and column_name != "pk":
        # "posts__in=[...]" / "parent__gt=3" compare the related primary key.
        pk_type = target_info.columns[target_info.pk_key].type
        if column_name in lookups.names(pk_type):
            column_name, parts = "pk", [column_name, *parts]
    field_column(target, column_name)  # validates, with the usual message
    expr = column_for("__".join([*rels, column_name]))
    return expression_lookup(
        target, f"{target.__name__}.{column_name}", expr, parts, value, key
    ).clause
