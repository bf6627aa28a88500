"""Query expressions: ``Q`` (boolean trees of lookups), ``F`` (column references with
arithmetic) and the aggregates ``Count``, ``Sum``, ``Avg``, ``Min``, ``Max``.

Each resolves against a model into a SQLAlchemy expression; values stay bound parameters.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Double,
    Float,
    Integer,
    TypeDecorator,
    and_,
    cast,
    false,
    func,
    not_,
    or_,
    true,
    type_coerce,
)
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

from orm_kit.exceptions import ValidationError
from orm_kit.query.clauses import resolve_grouped, resolve_lookup, split_relation_key
from orm_kit.query.resolvable import Resolvable, to_expression
from orm_kit.query.values import check_arithmetic, family

__all__ = [
    "Aggregate",
    "Avg",
    "Count",
    "F",
    "Max",
    "Min",
    "Q",
    "Resolvable",
    "Sum",
]

ColumnFor = Callable[[str], ColumnElement[Any]]
KeyResolver = Callable[[str, Any], "ColumnElement[bool] | None"]
"""Maps a field path of an aggregate to the column it aggregates."""


class Combinable(Resolvable):
    """Arithmetic between expressions and values: ``F("views") + 1``."""

    def _combine(self, other: Any, op: Callable[[Any, Any], Any], reverse: bool) -> Combined:
        return Combined(other, op, self) if reverse else Combined(self, op, other)

    def __add__(self, other: Any) -> Combined:
        return self._combine(other, operator.add, False)

    def __radd__(self, other: Any) -> Combined:
        return self._combine(other, operator.add, True)

    def __sub__(self, other: Any) -> Combined:
        return self._combine(other, operator.sub, False)

    def __rsub__(self, other: Any) -> Combined:
        return self._combine(other, operator.sub, True)

    def __mul__(self, other: Any) -> Combined:
        return self._combine(other, operator.mul, False)

    def __rmul__(self, other: Any) -> Combined:
        return self._combine(other, operator.mul, True)

    def __truediv__(self, other: Any) -> Combined:
        return self._combine(other, operator.truediv, False)

    def __rtruediv__(self, other: Any) -> Combined:
        return self._combine(other, operator.truediv, True)

    def __mod__(self, other: Any) -> Combined:
        return self._combine(other, operator.mod, False)

    def __neg__(self) -> Combined:
        return Combined(0, operator.sub, self)


_SYMBOLS = {
    operator.add: "+",
    operator.sub: "-",
    operator.mul: "*",
    operator.truediv: "/",
    operator.mod: "%",
}


class Combined(Combinable):
    """``lhs <op> rhs`` where either side may be an expression."""

    def __init__(self, lhs: Any, op: Callable[[Any, Any], Any], rhs: Any) -> None:
        self.lhs, self.op, self.rhs = lhs, op, rhs

    @property
    def contains_aggregate(self) -> bool:
        return any(isinstance(s, Resolvable) and s.contains_aggregate for s in (self.lhs, self.rhs))

    def resolve(self, model: type[Any]) -> ColumnElement[Any]:
        lhs, rhs = to_expression(self.lhs, model), to_expression(self.rhs, model)
        symbol = _SYMBOLS.get(self.op, "?")
        check_arithmetic(lhs, symbol, rhs, f"{model.__name__} expression {self!r}")
        result: ColumnElement[Any] = self.op(lhs, rhs)
        if not isinstance(result, ColumnElement):
            raise ValidationError(f"{self!r} has no column in it; use a plain value instead.")
        return result

    def __repr__(self) -> str:
        symbol = _SYMBOLS.get(self.op, self.op.__name__)
        return f"{self.lhs!r} {symbol} {self.rhs!r}"


class F(Combinable):
    """A reference to a column of the model being queried.

    Example:
        ```python
        await Post.objects.filter(id=1).update(views=F("views") + 1)
        await Post.objects.filter(likes__gt=F("views"))
        ```
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def resolve(self, model: type[Any]) -> ColumnElement[Any]:
        from orm_kit.query.lookups.resolver import field_column

        return field_column(model, self.name)

    def asc(self) -> OrderBy:
        """Ascending order on this column, for ``order_by()``."""
        return OrderBy(self, descending=False)

    def desc(self) -> OrderBy:
        """Descending order on this column, for ``order_by()``."""
        return OrderBy(self, descending=True)

    def __repr__(self) -> str:
        return f"F({self.name!r})"


class OrderBy(Resolvable):
    """An ordering term made from ``F(...).asc()`` / ``.desc()``."""

    def __init__(self, expr: Resolvable, *, descending: bool) -> None:
        self.expr, self.descending = expr, descending

    def resolve(self, model: type[Any]) -> ColumnElement[Any]:
        col = self.expr.resolve(model)
        return col.desc() if self.descending else col.asc()


class Q:
    """A boolean combination of lookups: ``Q(a=1) | ~Q(b=2) & Q(c__gt=3)``.

    Positional children may be other ``Q`` objects or plain SQLAlchemy clauses.
    As in Django, a negation is the complement: ``~Q(x)`` keeps every row ``Q(x)`` does
    not, including rows where a column or expression in ``x`` is NULL.
    """

    AND = "AND"
    OR = "OR"

    def __init__(self, *args: Q | ColumnElement[bool], **lookups: Any) -> None:
        self.children: list[Q | ColumnElement[bool] | tuple[str, Any]] = [
            *args,
            *sorted(lookups.items()),
        ]
        self.connector = Q.AND
        self.negated = False

    def _new(self, connector: str, children: list[Any], negated: bool = False) -> Q:
        q = Q()
        q.connector, q.children, q.negated = connector, children, negated
        return q

    def __and__(self, other: Q) -> Q:
        return self._new(Q.AND, [self, other])

    def __or__(self, other: Q) -> Q:
        return self._new(Q.OR, [self, other])

    def __invert__(self) -> Q:
        return self._new(self.connector, list(self.children), not self.negated)

    def __repr__(self) -> str:
        inner = f" {self.connector} ".join(repr(c) for c in self.children)
        return f"{'NOT ' if self.negated else ''}Q({inner})"

    def lookup_names(self) -> list[str]:
        """The ``field__lookup`` names in this tree (for error context; never values)."""
        names: list[str] = []
        for child in self.children:
            if isinstance(child, Q):
                names.extend(child.lookup_names())
            elif isinstance(child, tuple):
                names.append(child[0])
        return names

    def resolve(
        self, model: type[Any], *, negated: bool = False, key_resolver: KeyResolver | None = None
    ) -> ColumnElement[bool]:
        """Return the clause for ``model``; ``negated`` tells whether an outer NOT applies.

        ``key_resolver(key, value)`` may resolve a lookup first (annotations, aggregate
        filters); when it returns ``None`` the lookup is resolved on the model.
        """
        inside_not = negated != self.negated
        clauses: list[ColumnElement[bool]] = []
        custom: dict[int, ColumnElement[bool]] = {}
        if key_resolver is not None:
            for i, child in enumerate(self.children):
                if isinstance(child, tuple):
                    clause = key_resolver(child[0], child[1])
                    if clause is not None:
                        custom[i] = clause
        related = [
            c
            for i, c in enumerate(self.children)
            if i not in custom
            and isinstance(c, tuple)
            and split_relation_key(model, c[0]) is not None
        ]
        if self.connector == Q.AND and related:
            # Lookups through one relationship must match the same related row.
            clauses.extend(leaf(r, inside_not) for r in resolve_grouped(model, related))
        for i, child in enumerate(self.children):
            if i in custom:
                # An annotation or aggregate can be NULL.
                clauses.append(true_only(custom[i]) if inside_not else custom[i])
                continue
            if self.connector == Q.AND and any(child is r for r in related):
                continue
            if isinstance(child, Q):
                clauses.append(child.resolve(model, negated=inside_not, key_resolver=key_resolver))
            elif isinstance(child, tuple):
                clauses.append(leaf(resolve_lookup(model, child[0], child[1]), inside_not))
            elif isinstance(child, ColumnElement) or hasattr(child, "__clause_element__"):
                clauses.append(true_only(child) if inside_not else child)
            else:
                raise ValidationError(
                    f"filter() takes Q objects, SQLAlchemy clauses and keyword lookups, "
                    f"not {type(child).__name__}."
                )
        if not clauses:
            combined: ColumnElement[bool] = true() if self.connector == Q.AND else false()
        elif len(clauses) == 1:
            combined = clauses[0]
        else:
            combined = and_(*clauses) if self.connector == Q.AND else or_(*clauses)
        return not_(combined) if self.negated else combined


def true_only(clause: ColumnElement[bool]) -> ColumnElement[bool]:
    """``clause IS TRUE``: false where the clause is NULL, so a NOT around it keeps the row.

    This is how a negation keeps Django's rule: ``exclude(x)`` returns exactly the rows
    ``filter(x)`` does not, also where a column or an expression in ``x`` is NULL.
    """
    return clause.is_(true())


def leaf(resolved: Any, inside_not: bool) -> ColumnElement[bool]:
    """The clause of a resolved lookup under an odd (``inside_not``) or even number of NOTs."""
    clause: ColumnElement[bool] = resolved.clause
    return true_only(clause) if inside_not and resolved.maybe_null else clause


class Aggregate(Resolvable):
    """An aggregate over a column, for ``aggregate()`` and ``annotate()``.

    Args:
        field: A field name, ``"*"`` (``Count`` only), or an ``F`` expression.
        distinct: Aggregate distinct values only.
        filter: A ``Q`` restricting the rows aggregated (SQL ``FILTER (WHERE ...)``).
    """

    function = ""
    default_alias_suffix = ""

    @property
    def contains_aggregate(self) -> bool:
        return True

    # The kinds of column (orm_kit.query.values.family) this aggregate applies to alike on
    # every backend; None: any.
    families: frozenset[str] | None = None

    def __init__(self, field: str | Resolvable, *, distinct: bool = False, filter: Q | None = None):
        self.field, self.distinct, self.filter = field, distinct, filter

    def _check_arguments(self) -> None:
        # Checked when the aggregate is used (annotate() / aggregate()), like a lookup.
        name = type(self).__name__
        if not isinstance(self.field, str | Resolvable):
            raise ValidationError(
                f"{name}() takes a field name or an F() expression, "
                f"not {type(self.field).__name__}."
            )
        if self.filter is not None and not isinstance(self.filter, Q):
            raise ValidationError(f"{name}(filter=...) takes a Q object.")
        if not isinstance(self.distinct, bool):
            raise ValidationError(f"{name}(distinct=...) takes True or False.")

    @property
    def default_alias(self) -> str:
        """Django's default name, ``<field>__<function>``, for positional aggregates."""
        self._check_arguments()
        if not isinstance(self.field, str):
            raise ValidationError(
                f"{type(self).__name__}() over an expression needs a name: aggregate(name=...)."
            )
        return f"{self.field}__{self.function}".replace("*", "all")

    def _argument(self, model: type[Any], column_for: ColumnFor | None = None) -> Any:
        from orm_kit.query.lookups.resolver import field_column
        from orm_kit.query.relations import relationship_of

        self._check_arguments()
        if isinstance(self.field, Resolvable):
            return self.field.resolve(model)
        if self.field == "*":
            raise ValidationError(f"{type(self).__name__}('*') is not allowed; name a field.")
        if relationship_of(model, self.field.split("__", 1)[0]) is not None:
            if column_for is None:
                raise ValidationError(
                    f"{type(self).__name__}({self.field!r}) follows a relationship; use it in "
                    "aggregate() or annotate()."
                )
            return column_for(self.field)
        column = field_column(model, self.field)  # validates the name
        # Through column_for too: a per-row annotation must aggregate the correlated row.
        return column if column_for is None else column_for(self.field)

    def _call(self, arg: Any) -> ColumnElement[Any]:
        fn: ColumnElement[Any] = getattr(func, self.function)(arg)
        return fn

    def resolve(self, model: type[Any], column_for: ColumnFor | None = None) -> ColumnElement[Any]:
        """The aggregate over ``model``; ``column_for`` maps a relationship path
        (``"posts__views"``, or ``"posts"`` for its key) to a joined column."""
        arg = self._argument(model, column_for)
        kind = None if arg is None else family(arg.type)
        if self.families is not None and kind is not None and kind not in self.families:
            raise ValidationError(
                f"{type(self).__name__}({self.field!r}) on {model.__name__} needs a column of "
                f"{' or '.join(sorted(self.families))} values, not {kind}."
            )
        if self.distinct:
            arg = arg.distinct()
        expr = self._call(arg)
        if self.filter is not None:
            resolver = None
            if column_for is not None:
                from orm_kit.query.relations import filter_through

                def resolver(key: str, value: Any) -> ColumnElement[bool] | None:
                    return filter_through(model, column_for, key, value)

            expr = expr.filter(self.filter.resolve(model, key_resolver=resolver))
        return self._finish(expr)

    def _finish(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        """The aggregate's result expression (after any ``FILTER``)."""
        return expr

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.field!r})"


class Count(Aggregate):
    """``COUNT(field)``; ``Count("*")`` counts rows."""

    function = "count"

    def _argument(self, model: type[Any], column_for: ColumnFor | None = None) -> Any:
        if self.field == "*":
            return None
        return super()._argument(model, column_for)

    def _call(self, arg: Any) -> ColumnElement[Any]:
        return func.count() if arg is None else func.count(arg)


class _WholeSum(TypeDecorator[int]):
    """The type of a ``SUM()`` of integers: read back as an ``int`` on every backend.

    NOTE(mysql): SUM() of integers is a DECIMAL there (and of BIGINTs on PostgreSQL a
    numeric); the value is whole, so ``int()`` of it is exact.
    """

    impl = BigInteger
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> int | None:
        return None if value is None else int(value)


class Sum(Aggregate):
    """``SUM(field)``; a sum of integers is an ``int`` on every backend."""

    function = "sum"
    families = frozenset({"number", "interval"})

    def _finish(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        # sum() takes its argument's type (and FILTER keeps it).
        return type_coerce(expr, _WholeSum()) if isinstance(expr.type, Integer) else expr


_AVERAGE_TYPE = Float().with_variant(Double(), "mysql")


class Avg(Aggregate):
    """``AVG(field)``, returned as a float on every backend."""

    function = "avg"
    families = frozenset({"number"})

    def _call(self, arg: Any) -> ColumnElement[Any]:
        from orm_kit.query.lookups.constructs import Averaged

        # DISTINCT stays outside: avg(DISTINCT x), the values averaged as floats.
        if isinstance(arg, UnaryExpression) and arg.operator is operators.distinct_op:
            return func.avg(Averaged(arg.element).distinct())
        return func.avg(Averaged(arg))

    def _finish(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        # After FILTER: the cast is not an aggregate. NOTE(mysql): its FLOAT is single
        # precision; DOUBLE is what PostgreSQL's float is.
        return cast(expr, _AVERAGE_TYPE)


class Min(Aggregate):
    """``MIN(field)``."""

    function = "min"
    families = frozenset({"number", "text", "date", "datetime", "time", "interval"})


class Max(Aggregate):
    """``MAX(field)``."""

    function = "max"
    families = frozenset({"number", "text", "date", "datetime", "time", "interval"})
