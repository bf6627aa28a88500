"""Hypothesis strategies that generate query descriptions (:mod:`tests.oracle.describe`).

Only valid inputs are generated: 32-bit ints, no NaN, no NUL, aware datetimes, strings
within the column length, a ``str`` for text lookups, regular expressions that mean the
same in Python and PostgreSQL, type-consistent JSON keys.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from tests.oracle import data as pool
from tests.oracle.data import ascii_swapcase
from tests.oracle.describe import (
    AggSpec,
    And,
    Block,
    Direct,
    FExpr,
    FOp,
    FRef,
    Leaf,
    Lookups,
    Node,
    Not,
    Op,
    Or,
    Query,
    Step,
    SubIn,
)

# --- strategies: values -------------------------------------------------------------------

TEXT_LOOKUPS = ("contains", "icontains", "startswith", "istartswith", "endswith", "iendswith")
COMPARE = ("gt", "gte", "lt", "lte")
TRANSFORMS = ("date", "year", "month", "day", "hour", "minute", "week_day")


@functools.cache
def int_range(low: int, high: int) -> st.SearchStrategy[int]:
    """``st.integers(low, high)``, built once: building strategies dominates generation."""
    return st.integers(low, high)


def pick(choices: Sequence[Any]) -> st.SearchStrategy[Any]:
    return _picked(tuple(choices))


@functools.cache
def _picked(choices: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(choices)


@functools.cache
def list_of(
    items: st.SearchStrategy[Any], min_size: int = 0, max_size: int = 4, unique: bool = False
) -> st.SearchStrategy[list[Any]]:
    return st.lists(items, min_size=min_size, max_size=max_size, unique=unique)


BOOL = st.booleans()


@functools.cache
def column_texts(name: str) -> st.SearchStrategy[str]:
    """Strings for text lookups on field ``name`` (pieces of its values, case variants)."""
    return st.sampled_from(pool.COLUMN_TEXTS[name])


ints = st.sampled_from(pool.INTS)
small = st.integers(-3, 3)
texts = st.sampled_from(pool.TEXTS)
floats = st.sampled_from(pool.FLOATS)
int_columns = st.sampled_from(("i", "ni", "id"))


@functools.cache
@st.composite
def regexes(draw: st.DrawFn) -> str:
    pattern = draw(pick(pool.REGEXES))
    return ascii_swapcase(pattern) if draw(BOOL) else pattern


@functools.cache
@st.composite
def int_exprs(draw: st.DrawFn) -> FExpr:
    """F() arithmetic over the int columns (nullable ``ni`` included)."""
    col = FRef(draw(int_columns))
    form = draw(int_range(0, 6))
    if form == 0:
        return col
    if form == 1:
        return FOp(col, draw(pick("+-*")), draw(small))
    if form == 2:
        return FOp(draw(small), "-", col)
    if form == 3:
        return FOp(col, draw(pick("+-*")), FRef(draw(int_columns)))
    if form == 4:
        return FOp(FRef("id"), "%", draw(int_range(2, 5)))
    if form == 5:
        return FOp(FOp(col, "+", draw(small)), "*", draw(int_range(-2, 2)))
    return FOp(col, "+", draw(pick((1, 2, 10))))


@functools.cache
@st.composite
def datetimes(draw: st.DrawFn) -> datetime:
    moment = draw(pick(pool.ROW_DATETIMES)) + draw(pick(pool.DELTAS))
    return pool.at_offset(moment, draw(pick(pool.OFFSETS)))


FLOAT_EXPRS = st.one_of(int_exprs(), st.just(FOp(FRef("f"), "*", 2)), st.just(FRef("i")))
SLICE_BOUND = st.one_of(st.none(), st.integers(0, 70), st.integers(0, 6))
SLICE = st.tuples(SLICE_BOUND, SLICE_BOUND)
TRANSFORM_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "date": st.sampled_from(pool.DATES),
    "year": st.integers(2017, 2028),
    "month": st.integers(1, 12),
    "day": st.integers(1, 31),
    "hour": st.integers(0, 23),
    "minute": st.sampled_from((0, 15, 30, 45, 59, 1, 58)),
    "week_day": st.integers(1, 7),
}


@functools.cache
def _in_list(values: st.SearchStrategy[Any], with_none: bool) -> st.SearchStrategy[list[Any]]:
    item = st.one_of(values, st.none()) if with_none else values
    return st.lists(item, max_size=4)


@functools.cache
@st.composite
def _pair(draw: st.DrawFn, values: st.SearchStrategy[Any]) -> tuple[Any, Any]:
    return (draw(values), draw(values))


def scalar_lookup(
    draw: st.DrawFn,
    name: str,
    values: st.SearchStrategy[Any],
    *,
    nullable: bool,
    extra: tuple[str, ...] = (),
    f_values: st.SearchStrategy[Any] | None = None,
) -> tuple[str, Any]:
    """``name__<lookup>=value`` for an ordered scalar type."""
    ops = ("exact", *COMPARE, "in", "range", *extra, *(("isnull",) if nullable else ()))
    op = draw(pick(ops))
    if op == "isnull":
        return f"{name}__isnull", draw(BOOL)
    if op == "in":
        return f"{name}__in", draw(_in_list(values, nullable))
    if op == "range":
        return f"{name}__range", draw(_pair(values))
    if f_values is not None and op in ("exact", *COMPARE) and draw(int_range(0, 3)) == 0:
        value = draw(f_values)
    elif nullable and op == "exact" and draw(int_range(0, 5)) == 0:
        value = None
    else:
        value = draw(values)
    return (name if op == "exact" and draw(BOOL) else f"{name}__{op}"), value


def text_lookup(
    draw: st.DrawFn,
    name: str,
    *,
    nullable: bool,
    f_cols: tuple[str, ...] = (),
    values: st.SearchStrategy[str] = texts,
) -> tuple[str, Any]:
    ops = ("exact", "iexact", *TEXT_LOOKUPS, "in", *COMPARE, "range", "regex", "iregex")
    op = draw(pick(ops + (("isnull",) if nullable else ())))
    if op == "isnull":
        return f"{name}__isnull", draw(BOOL)
    if op == "in":
        return f"{name}__in", draw(_in_list(values, nullable))
    if op == "range":
        return f"{name}__range", tuple(sorted(draw(_pair(values))))
    if op in ("regex", "iregex"):
        return f"{name}__{op}", draw(regexes())
    if f_cols and op != "range" and draw(int_range(0, 3)) == 0:
        return f"{name}__{op}", FRef(draw(pick(f_cols)))
    if nullable and op in ("exact", "iexact") and draw(int_range(0, 4)) == 0:
        return f"{name}__{op}", None
    value = draw(values)
    return (name if op == "exact" and draw(BOOL) else f"{name}__{op}"), value


# --- strategies: lookups ------------------------------------------------------------------


@functools.cache
@st.composite
def row_lookup(draw: st.DrawFn, *, children: bool = True, subquery: bool = True) -> tuple[str, Any]:
    """One lookup on OracleRow: a column, a transform, a JSON key or a relation."""
    kinds = ["i", "ni", "id", "s", "ns", "b", "f", "dt", "tr", "json", "parent", "parent_id"]
    if children:
        kinds.append("children")
    if subquery:
        kinds.append("sub")
    kind = draw(pick(kinds))
    f_int = int_exprs()
    if kind in ("i", "ni"):
        return scalar_lookup(draw, kind, ints, nullable=kind == "ni", f_values=f_int)
    if kind == "id":
        return scalar_lookup(draw, "id", st.integers(0, 70), nullable=False, f_values=f_int)
    if kind in ("s", "ns"):
        return text_lookup(draw, kind, nullable=kind == "ns", f_cols=("s", "ns"))
    if kind == "b":
        op = draw(pick(("exact", "in", "isnull")))
        if op == "in":
            return "b__in", draw(list_of(BOOL, 0, 2))
        if op == "isnull":
            return "b__isnull", draw(BOOL)
        return draw(pick(("b", "b__exact"))), draw(BOOL)
    if kind == "f":
        return scalar_lookup(draw, "f", floats, nullable=False, f_values=FLOAT_EXPRS)
    if kind == "dt":
        return scalar_lookup(draw, "dt", datetimes(), nullable=False)
    if kind == "tr":
        part = draw(pick(TRANSFORMS))
        values = TRANSFORM_VALUES[part]
        return scalar_lookup(draw, f"dt__{part}", values, nullable=False)
    if kind == "json":
        if draw(BOOL):
            ops = ("exact", "iexact", "contains", "icontains", "startswith", "in", "isnull")
            op = draw(pick(ops))
            if op == "isnull":
                return "data__k__isnull", draw(BOOL)
            if op == "in":
                return "data__k__in", draw(list_of(pick(pool.JSON_TEXTS), 0, 3))
            key = "data__k" if op == "exact" and draw(BOOL) else f"data__k__{op}"
            return key, draw(column_texts("data__k"))
        return scalar_lookup(draw, "data__n", st.integers(-6, 20), nullable=True)
    if kind == "parent":
        form = draw(int_range(0, 4))
        if form == 0:
            return "parent__isnull", draw(BOOL)
        if form == 1:
            if draw(BOOL):
                return "parent", draw(int_range(1, 8))
            return "parent__in", draw(list_of(int_range(1, 8), 0, 3))
        if form == 2:
            return scalar_lookup(draw, "parent__rank", st.integers(-1, 6), nullable=False)
        return text_lookup(
            draw, "parent__name", nullable=False, values=column_texts("parent__name")
        )
    if kind == "parent_id":
        return scalar_lookup(draw, "parent_id", st.integers(1, 8), nullable=True)
    if kind == "children":
        form = draw(int_range(0, 4))
        if form == 0:
            return "children__isnull", draw(BOOL)
        if form == 1:
            return "children__id__in", draw(list_of(int_range(1, 100), 0, 4))
        if form <= 3:
            return scalar_lookup(draw, "children__v", st.integers(-4, 11), nullable=False)
        return text_lookup(draw, "children__t", nullable=False, values=column_texts("children__t"))
    inner = draw(leaf_lookups(children=False, subquery=False, max_size=2))
    return "id__in", SubIn(inner)


@functools.cache
@st.composite
def leaf_lookups(
    draw: st.DrawFn, *, children: bool = True, subquery: bool = True, max_size: int = 2
) -> Lookups:
    """1..max_size lookups with distinct keys (one ``Q(...)`` or one kwargs group)."""
    items = draw(list_of(row_lookup(children=children, subquery=subquery), 1, max_size))
    seen: dict[str, Any] = {}
    for key, value in items:
        seen.setdefault(key, value)
    return tuple(seen.items())


def _tree(draw: st.DrawFn, leaves: list[Leaf]) -> Node:
    if len(leaves) == 1:
        node: Node = leaves[0]
    else:
        cut = draw(int_range(1, len(leaves) - 1))
        joiner = And if draw(BOOL) else Or
        node = joiner(_tree(draw, leaves[:cut]), _tree(draw, leaves[cut:]))
    return Not(node) if draw(int_range(0, 2)) == 0 else node


@functools.cache
@st.composite
def steps(draw: st.DrawFn) -> Step:
    """One filter()/exclude() call. To-many (``children__``) lookups appear in at most one
    unit of the call (the kwargs or one Q leaf), where they must match one related row;
    Django's rule for to-many lookups spread over several Q objects of one call differs
    between filter and exclude, so it is left out."""
    negate = draw(int_range(0, 2)) == 0
    n_leaves = draw(int_range(0, 3))  # each leaf adds to the example size: keep it small
    children_in = draw(pick(("kwargs", "tree", "none")))
    leaves = [
        Leaf(draw(leaf_lookups(children=children_in == "tree" and n == 0))) for n in range(n_leaves)
    ]
    args = (_tree(draw, leaves),) if leaves else ()
    if leaves and draw(int_range(0, 3)) == 0:
        args = (*args, Leaf(draw(leaf_lookups(children=False))))
    kwargs: Lookups = ()
    if not args or draw(BOOL):
        kwargs = draw(leaf_lookups(children=children_in == "kwargs"))
    return Step(negate, args, kwargs)


@functools.cache
@st.composite
def simple_steps(draw: st.DrawFn) -> Step:
    """``filter(a=..)`` / ``exclude(a=.., b=..)``: small shapes, which repeat often, so a
    statement cached for one is likely to be asked for by another."""
    return Step(draw(int_range(0, 3)) == 0, (), draw(leaf_lookups(max_size=2)))


# --- strategies: queries and operations -----------------------------------------------------

ORDER_FIELDS = ("i", "ni", "s", "ns", "b", "f", "dt", "parent_id", "parent__name", "parent__rank")
VALUE_FIELDS = (*("id", "i", "ni", "s", "ns", "b", "f", "dt", "data", "parent_id"), "parent__name")
DISTINCT_FIELDS = ("i", "ni", "b", "ns", "f", "parent_id", "parent__name", "s")


def _signed(draw: st.DrawFn, name: str) -> str:
    return f"-{name}" if draw(BOOL) else name


@functools.cache
@st.composite
def queries(
    draw: st.DrawFn,
    *,
    shapes: tuple[str, ...] = ("models", "values", "values_list", "flat"),
    allow_slices: bool = True,
    allow_order: bool = True,
    allow_distinct: bool = True,
    need_total: bool = False,
    max_steps: int = 2,
) -> Query:
    """A QuerySet chain; slices only over a total ordering (so they are reproducible)."""
    step = simple_steps() if draw(BOOL) else steps()
    chain = tuple(draw(list_of(step, 0, max_steps)))
    shape = draw(pick(shapes))
    distinct = allow_distinct and shape != "models" and draw(int_range(0, 3)) == 0
    fields: tuple[str, ...] = ()
    if distinct:
        fields = tuple(draw(list_of(pick(DISTINCT_FIELDS), 1, 2, unique=True)))
    elif shape != "models":
        fields = tuple(draw(list_of(pick(VALUE_FIELDS), 0, 4, unique=True)))
        if shape != "values" and not fields:
            fields = ("id",)
    if shape == "flat":
        fields = fields[:1]
    order: tuple[str, ...] = ()
    if distinct:
        if allow_order and (need_total or draw(BOOL)):
            order = tuple(_signed(draw, f) for f in draw(st.permutations(fields)))
    elif allow_order and (need_total or draw(int_range(0, 2)) > 0):
        order = tuple(
            _signed(draw, f) for f in draw(list_of(pick(ORDER_FIELDS), 0, 3, unique=True))
        )
        if need_total or draw(int_range(0, 2)) > 0:
            order = (*order, _signed(draw, "id"))
    related = None
    if shape == "models" and draw(int_range(0, 5)) == 0:
        related = draw(pick(("parent", "children")))
    query = Query(chain, order, False, distinct, shape, fields, related)
    order_f = bool(order) and "parent__" not in "".join(order) and draw(int_range(0, 5)) == 0
    slices: list[tuple[int | None, int | None]] = []
    if allow_slices and query.total and draw(BOOL):
        slices = draw(list_of(SLICE, 1, 2))
    return Query(chain, order, order_f, distinct, shape, fields, related, tuple(slices))


ROW_AGG_FIELDS = {
    "Count": ("id", "ni", "ns", "s", "b", "dt", "parent"),
    "Sum": ("i", "ni", "f", "id", "parent__rank"),
    "Avg": ("i", "ni", "f", "parent__rank"),
    "Min": ("i", "ni", "f", "dt", "s", "ns", "parent__rank"),
    "Max": ("i", "ni", "f", "dt", "s", "ns", "parent__rank"),
}
CHILD_AGGS: tuple[tuple[str, str], ...] = (
    ("Count", "children"),
    ("Sum", "children__v"),
    ("Max", "children__v"),
)
CHILD_AGGS += (("Min", "children__v"), ("Avg", "children__v"), ("Count", "children__t"))


@functools.cache
@st.composite
def agg_specs(draw: st.DrawFn) -> tuple[AggSpec, ...]:
    """Aggregates of one ``aggregate()`` call: row (and to-one) aggregates, or to-many
    ones alone (a join to the children repeats each row once per child, as in Django)."""
    if draw(int_range(0, 3)) == 0:
        picks = draw(list_of(pick(CHILD_AGGS), 1, 3))
        return tuple(AggSpec(fn, name) for fn, name in picks)
    out = []
    for _ in range(draw(int_range(1, 4))):
        fn = draw(pick(tuple(ROW_AGG_FIELDS)))
        name = draw(pick(ROW_AGG_FIELDS[fn]))
        distinct = fn == "Count" and draw(int_range(0, 3)) == 0
        flt = None
        if draw(int_range(0, 2)) == 0:
            flt = Leaf(draw(leaf_lookups(children=False, subquery=False, max_size=2)))
        out.append(AggSpec(fn, name, distinct, flt))
    return tuple(out)


UPDATE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "i": st.one_of(
        ints,
        st.builds(FOp, st.just(FRef("i")), st.sampled_from("+-*"), small),
        st.just(FOp(FRef("i"), "+", FRef("id"))),
    ),
    "ni": st.one_of(ints, st.none(), int_exprs()),
    "s": texts,
    "ns": st.one_of(texts, st.none(), st.just(FRef("s"))),
    "b": st.booleans(),
    "f": st.one_of(
        floats, st.just(FOp(FRef("f"), "*", 2)), st.just(FOp(FRef("f"), "+", FRef("i")))
    ),
    "dt": datetimes(),
    "data": st.sampled_from(({}, {"k": "abc"}, {"n": 4}, {"k": "%", "n": -2})),
    "parent_id": st.one_of(st.none(), st.integers(1, 7)),
}


@functools.cache
@st.composite
def update_values(draw: st.DrawFn) -> Lookups:
    """Values for ``update()``: plain values, None on nullable columns, F() arithmetic that
    stays NOT NULL where the column is."""
    names = draw(list_of(pick(tuple(UPDATE_VALUES)), 1, 3, unique=True))
    return tuple((name, draw(UPDATE_VALUES[name])) for name in names)


DIRECT_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "id": st.integers(0, 70),
    "i": ints,
    "ni": st.one_of(ints, st.just(None)),
    "s": st.one_of(texts, st.sampled_from(pool.STRINGS)),
    "ns": st.one_of(texts, st.none()),
    "b": st.booleans(),
    "f": floats,
    "dt": st.one_of(datetimes(), st.sampled_from(pool.ROW_DATETIMES)),
    "parent_id": st.one_of(st.integers(1, 8), st.none()),
}


@functools.cache
@st.composite
def directs(draw: st.DrawFn) -> Direct:
    """The same manager call shape, 1-3 times with different values."""
    action = draw(pick(("fetch", "count", "get", "exists", "first", "update", "delete")))
    keys = draw(list_of(pick(tuple(DIRECT_VALUES)), 1, 2, unique=True))
    if action == "get" and draw(BOOL):
        keys = ["id"]
    sets = []
    for _ in range(draw(int_range(1, 3))):
        lookups = []
        for key in keys:
            value = draw(DIRECT_VALUES[key])
            if key in ("i", "ni") and draw(int_range(0, 7)) == 0:
                value = draw(int_exprs())
            lookups.append((key, value))
        sets.append(tuple(lookups))
    values = draw(update_values()) if action == "update" else ()
    return Direct(action, tuple(sets), values)


def st_kind(kinds: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(kinds)


def _op(
    kind: str | st.SearchStrategy[str],
    q: st.SearchStrategy[Query],
    arg: st.SearchStrategy[Any] | None = None,
) -> st.SearchStrategy[Op]:
    kinds = st.just(kind) if isinstance(kind, str) else kind
    return st.builds(Op, kinds, q, arg if arg is not None else st.none())


@functools.cache
def single_ops() -> st.SearchStrategy[Op | Direct]:
    reads = ("models", "values", "values_list", "flat")
    ordered = ("models", "values")

    def plain() -> st.SearchStrategy[Query]:
        return queries(
            shapes=("models",), allow_slices=False, allow_order=False, allow_distinct=False
        )

    return st.one_of(
        _op("fetch", queries(shapes=reads)),
        _op("fetch", queries(shapes=reads)),
        _op("count", queries(shapes=reads)),
        _op("exists", queries(shapes=reads)),
        _op("first", queries(shapes=ordered, need_total=True)),
        _op("last", queries(shapes=ordered, need_total=True)),
        _op(st_kind(("first", "last")), plain()),
        _op("index", queries(shapes=reads, need_total=True), st.integers(0, 70)),
        _op("get", plain()),
        _op("aggregate", plain(), agg_specs()),
        _op("update", plain(), update_values()),
        _op("delete", plain()),
        directs(),
        directs(),
    )


@functools.cache
def blocks() -> st.SearchStrategy[Block]:
    return st.builds(
        Block,
        st.sampled_from(("session", "transaction")),
        st.lists(single_ops(), min_size=1, max_size=4).map(tuple),
        st.integers(0, 3).map(lambda n: n == 0),
    )
