"""What the chaining methods do to a QueryState: filters, ordering, annotations, result
fields, slices. Pure functions of the state (no I/O); the QuerySet methods are thin
wrappers that check their arguments' shape and return a QuerySet of the new state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import JSON, not_
from sqlalchemy.sql.elements import ColumnElement

from orm_kit.exceptions import InvalidLookupError, ValidationError
from orm_kit.query import compiler, prepared
from orm_kit.query.clauses import resolve_grouped, resolve_lookup
from orm_kit.query.expressions import Aggregate, OrderBy, Q, true_only
from orm_kit.query.lookups.resolver import expression_lookup, field_column
from orm_kit.query.meta import get_model_info
from orm_kit.query.relations import correlated_aggregate, joined_column_for, path_column
from orm_kit.query.resolvable import Resolvable, to_expression
from orm_kit.query.state import QueryState, replaced
from orm_kit.query.values import is_sql

__all__ = [
    "MAX_BOUND",
    "add_where",
    "annotate",
    "changed",
    "check_alias",
    "checked_fields",
    "index_window",
    "order_by",
    "refuse_sliced",
    "shaped",
    "slice_window",
    "sliced",
]

MAX_BOUND = (1 << 63) - 2  # LIMIT / OFFSET are 64-bit on every backend


def changed(state: QueryState, **changes: Any) -> QueryState:
    """``state`` with ``changes``; any chaining leaves the cached-statement path unless it
    says otherwise (``exact=``)."""
    changes.setdefault("exact", None)
    return replaced(state, **changes)


def check_alias(name: str, what: str) -> None:
    """Refuse an annotation or aggregate name that is not a plain identifier."""
    # Names become SQL labels and result keys: identifiers only (Django refuses quotes,
    # semicolons, whitespace and comments in aliases for the same reason), and without the
    # lookup separator, which filter() would read as a path.
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        shown = repr(name)[:60]
        raise ValidationError(
            f"The {what} name {shown} is not allowed: use a Python identifier that does not "
            "start with an underscore."
        )
    if "__" in name:
        raise ValidationError(
            f"The {what} name {name!r} contains '__', the lookup separator; choose a name "
            "without it."
        )


def refuse_sliced(state: QueryState, what: str, fix: str) -> None:
    """Raise when ``state`` is sliced: ``what`` would change which rows the window holds
    (Django raises TypeError for the same calls)."""
    if state.is_sliced:
        raise ValidationError(
            f"Cannot {what} once a slice has been taken (a sliced "
            f"{state.model.__name__} QuerySet). {fix}"
        )


# --- filters ------------------------------------------------------------------------------


def add_where(
    state: QueryState, negate: bool, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> QueryState:
    """``filter()`` (``negate=False``) or ``exclude()`` of ``args`` / ``kwargs``."""
    model = state.model
    if state.is_sliced:
        raise ValidationError(
            f"Cannot filter a sliced {model.__name__} QuerySet; filter before slicing."
        )
    if state.annotations:
        kwargs, annotated = _annotation_filters(state, kwargs, negate)
        if annotated:
            target = "having" if state.group_by else "where"
            state = changed(state, **{target: (*getattr(state, target), *annotated)})
            if not args and not kwargs:
                return state
    if not args and not negate:
        fast = prepared.exact_filter(state, kwargs)
        if fast is not None:  # filter(column=value) on a plain manager, seen before
            return changed(state, where=fast[0], filter_names=tuple(kwargs), exact=fast[1])
        # The common case, keyword lookups ANDed together: no Q tree needed.
        if get_model_info(model).relationship_keys:
            resolved = resolve_grouped(model, list(kwargs.items()))
        else:
            resolved = [resolve_lookup(model, k, v) for k, v in kwargs.items()]
        exact = (
            prepared.exact_pairs(model, list(kwargs), resolved)
            if kwargs and prepared.is_plain_base(state)
            else None
        )
        if exact is not None:
            prepared.learn_exact(state, kwargs, [r.clause for r in resolved])
        return changed(
            state,
            where=(*state.where, *(r.clause for r in resolved)),
            filter_names=(*state.filter_names, *kwargs),
            exact=exact,
        )
    q = Q(*args, **kwargs)
    annotations = dict(state.annotations)
    used: list[str] = []

    def on_annotation(key: str, value: Any) -> ColumnElement[bool] | None:
        head, *parts = key.split("__")
        if head not in annotations:
            return None
        used.append(head)
        return expression_lookup(
            model, f"annotation {head!r}", annotations[head], parts, value, key
        ).clause

    resolver = on_annotation if annotations else None
    clause = (~q if negate else q).resolve(model, key_resolver=resolver)
    names = (*state.filter_names, *q.lookup_names())
    if used and state.group_by:
        return changed(state, having=(*state.having, clause), filter_names=names)
    return changed(state, where=(*state.where, clause), filter_names=names)


def _annotation_filters(
    state: QueryState, kwargs: dict[str, Any], negate: bool
) -> tuple[dict[str, Any], list[ColumnElement[bool]]]:
    """Split off lookups on annotations (``n_posts__gte=3``) and resolve them."""
    annotations = dict(state.annotations)
    rest: dict[str, Any] = {}
    clauses: list[ColumnElement[bool]] = []
    for key, value in kwargs.items():
        head, *parts = key.split("__")
        if head not in annotations:
            rest[key] = value
            continue
        clause = expression_lookup(
            state.model, f"annotation {head!r}", annotations[head], parts, value, key
        ).clause
        # An annotation can be NULL; exclude() keeps those rows (the complement).
        clauses.append(not_(true_only(clause)) if negate else clause)
    return rest, clauses


# --- ordering, fields ---------------------------------------------------------------------


OrderTerm = tuple[ColumnElement[Any], bool, "str | None"]


def order_by(state: QueryState, fields: tuple[Any, ...]) -> QueryState:
    """``order_by(*fields)``: replaces earlier ordering; path names add their joins."""
    refuse_sliced(state, "reorder a query", "Call order_by() before slicing.")
    joins = state.joins
    terms = []
    for field in fields:
        term, joins = _order_term(state, field, joins)
        terms.append(term)
    # Ordering a cached filter by its model's fields keeps its cached statement.
    keep = (
        state.exact is not None
        and joins == state.joins
        and prepared.plain_order(state.model, terms)
    )
    return changed(state, order_by=tuple(terms), joins=joins, exact=state.exact if keep else None)


def _order_term(
    state: QueryState, term: Any, joins: tuple[Any, ...]
) -> tuple[OrderTerm, tuple[Any, ...]]:
    model = state.model
    name: str | None = None
    descending = False
    if isinstance(term, str):
        descending = term.startswith("-")
        name = term.lstrip("-")
        expr = dict(state.annotations).get(name)
        if expr is None and "__" in name:
            expr, joins = path_column(model, joins, name)
        elif expr is None:
            expr = field_column(model, name)
    elif isinstance(term, OrderBy):
        expr, descending = term.expr.resolve(model), term.descending
    elif isinstance(term, Resolvable):
        expr = term.resolve(model)
    elif isinstance(term, ColumnElement) or hasattr(term, "__clause_element__"):
        expr = term
    else:
        raise ValidationError(f"order_by() takes field names or expressions, not {term!r}.")
    if isinstance(getattr(expr, "type", None), JSON):
        # NOTE(postgresql): json has no ordering operator; refused on every backend, so an
        # ordering that works on SQLite does not fail once deployed.
        raise InvalidLookupError(
            f"Cannot order {model.__name__} by {name or term!r}: it is a JSON column, which "
            "has no order on PostgreSQL. Order by another field."
        )
    return (expr, descending, name), joins


def pk_ordered(state: QueryState, descending: bool) -> QueryState:
    """``state`` ordered by primary key (``first()`` / ``last()`` of an unordered query)."""
    info = get_model_info(state.model)
    terms = tuple((info.columns[k], descending, k) for k in info.pk_keys)
    return changed(state, order_by=terms, exact=state.exact)


def checked_fields(model: type[Any], names: Iterable[str]) -> tuple[str, ...]:
    """Column names for ``only()`` / ``defer()`` / ``of=``, ``pk`` as the key's name."""
    pk_key = get_model_info(model).pk_key
    checked = []
    for name in names:
        field_column(model, name)
        checked.append(pk_key if name == "pk" else name)
    return tuple(checked)


def annotate(state: QueryState, expressions: dict[str, Any]) -> QueryState:
    """``annotate(**expressions)``: per row, or per group after ``values(...)``."""
    model = state.model
    info = get_model_info(model)
    grouped = state.shape != "models" and bool(state.fields)
    joins = state.joins
    added = []
    for name, value in expressions.items():
        check_alias(name, "annotation")
        # Per row the name becomes an instance attribute, so it must not shadow one;
        # a grouped values() annotation only needs a name no field has.
        if name in info.attribute_keys or (not grouped and hasattr(model, name)):
            raise ValidationError(
                f"The annotation {name!r} conflicts with a field or attribute of "
                f"{model.__name__}; choose another name."
            )
        if not isinstance(value, Resolvable) and not is_sql(value):
            raise ValidationError(
                f"annotate({name}=...) takes an F() expression, an aggregate or a "
                f"SQLAlchemy expression, not {type(value).__name__}; wrap a constant "
                "in sqlalchemy.literal()."
            )
        if isinstance(value, Aggregate) and grouped:
            # values("a").annotate(n=Count(...)): one row per distinct "a" (GROUP BY).
            column_for, box = joined_column_for(model, joins)
            added.append((name, value.resolve(model, column_for)))
            joins = box[0]
        elif isinstance(value, Aggregate):
            # Per instance: a correlated subquery over the related rows.
            added.append((name, correlated_aggregate(model, value)))
        else:
            added.append((name, to_expression(value, model)))
    changes: dict[str, Any] = {"annotations": (*state.annotations, *added), "joins": joins}
    if grouped:
        annotated = {n for n, _ in state.annotations}
        changes["group_by"] = state.group_by or tuple(f for f in state.fields if f not in annotated)
        changes["fields"] = (*state.fields, *(name for name, _ in added))
    return changed(state, **changes)


def shaped(state: QueryState, shape: str, fields: tuple[str, ...]) -> QueryState:
    """``values()`` / ``values_list()``: the result shape and its fields (checked)."""
    model = state.model
    info = get_model_info(model)
    joins = state.joins
    for name in fields:
        if not isinstance(name, str):
            raise InvalidLookupError(
                f"Field names of {model.__name__} are strings, not {type(name).__name__}."
            )
        if "__" in name and name.split("__", 1)[0] in info.relationship_keys:
            _, joins = path_column(model, joins, name)
        else:
            compiler.value_column(state, info, name)
    return changed(state, shape=shape, fields=fields, joins=joins)


# --- slices -------------------------------------------------------------------------------


def index_window(index: Any) -> tuple[int, int]:
    """The ``(start, stop)`` of ``qs[index]``, checked."""
    if index > MAX_BOUND:
        raise ValueError(f"A QuerySet index must be at most {MAX_BOUND}.")
    if index < 0:
        raise ValueError("Negative indexing is not supported; use order_by('-field').")
    return index, index + 1


def slice_window(key: Any) -> tuple[int, int | None]:
    """The ``(start, stop)`` of ``qs[key]`` for a slice ``key``, checked."""
    if not isinstance(key, slice):
        raise TypeError(f"QuerySet indices must be integers or slices, not {type(key).__name__}.")
    if key.step is not None:
        raise ValueError("Slices with a step are not supported.")
    if (key.start is not None and key.start < 0) or (key.stop is not None and key.stop < 0):
        raise ValueError("Negative slice bounds are not supported; use order_by('-field').")
    for bound in (key.start, key.stop):
        if bound is not None and not isinstance(bound, int):
            raise TypeError(f"QuerySet slice bounds must be integers, not {type(bound).__name__}.")
        if bound is not None and bound > MAX_BOUND:
            raise ValueError(f"A QuerySet slice bound must be at most {MAX_BOUND}.")
    return key.start or 0, key.stop


def sliced(state: QueryState, start: int, stop: int | None) -> QueryState:
    """``state`` narrowed to rows ``start:stop`` of its current window."""
    base = state.offset or 0
    new_start = base + start
    new_stop = None if stop is None else base + stop
    if state.limit is not None:
        cap = base + state.limit
        new_stop = cap if new_stop is None else min(new_stop, cap)
    limit = None if new_stop is None else max(new_stop - new_start, 0)
    # A slice keeps a cached filter's statement (one per window: see prepared.MAX_STATEMENTS).
    return changed(state, offset=new_start or None, limit=limit, exact=state.exact)
