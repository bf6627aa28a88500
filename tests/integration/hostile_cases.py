"""The read operations of the hostile-input fuzz test, and what every operation shares.

Each operation is a small object that knows how to run itself against the ``hostile_*``
tables, what the oracle (``hostile_oracle``) says it must do, how to describe itself as
code (the reproduction hypothesis prints) and, for writes (``hostile_writes``), which
rows and values it should have written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from orm_kit import Avg, Count, F, Max, Min, Q, Sum
from orm_kit.exceptions import MultipleObjectsReturned, NotFoundError
from orm_kit.query.expressions import Aggregate
from tests.integration import hostile_oracle as oracle
from tests.integration.hostile_inputs import (
    HOSTILE_NAMES,
    LOOKUP_PAIR,
    MARKER,
    NON_STR_NAMES,
)
from tests.integration.hostile_models import HostileItem, HostileOwner
from tests.integration.hostile_oracle import ITEM_KINDS, Ref, Verdict

# --- operations -----------------------------------------------------------------------------


@dataclass
class Written:
    """What a successful write must have left behind: per row id, the values written
    (``ANY`` where an expression decides), and which of those rows are new."""

    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    created: set[int] = field(default_factory=set)


ANY = object()


class Context:
    """Per-example objects the operations need (fetched in the example's session)."""

    def __init__(self, *, in_session: bool = False) -> None:
        self.sql: list[str] = []
        self.in_session = in_session

    async def resolve(self, value: Any) -> Any:
        if not isinstance(value, Ref):
            return value
        if value.name == "OWNER":
            return await HostileOwner.objects.get(id=1001)
        if value.name == "ITEM":
            return await HostileItem.objects.get(id=1001)
        return HostileItem.objects.values_list("id", flat=True)

    async def resolve_all(self, values: dict[Any, Any]) -> dict[Any, Any]:
        return {k: await self.resolve(v) for k, v in values.items()}

    def show(self, qs: Any) -> Any:
        """Record ``qs.sql()`` (it must not echo hostile names either) and return ``qs``."""
        self.sql.append(qs.sql())
        return qs


def kwargs_repr(pairs: dict[Any, Any]) -> str:
    return f"**{pairs!r}" if pairs else ""


class Op:
    """One operation of the fuzz test."""

    writes = False

    def benign(self) -> tuple[type[Exception], ...]:
        """Errors that say nothing about the input (get() finding no row or several)."""
        return ()

    def verdict(self) -> Verdict:
        raise NotImplementedError

    async def run(self, ctx: Context) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.describe()

    def written(self, result: Any) -> Written:
        """The rows a successful write must have written (writes only)."""
        raise NotImplementedError

    def check_result(self, result: Any) -> str | None:
        """A problem with a successful result, if any."""
        return None


_TERMINALS = ("list", "count", "exists", "first")


async def _terminal(qs: Any, terminal: str) -> Any:
    if terminal == "count":
        return await qs.count()
    if terminal == "exists":
        return await qs.exists()
    if terminal == "first":
        return await qs.first()
    return await qs


@dataclass(repr=False)
class LookupOp(Op):
    """filter / exclude / get / Q trees with keyword lookups."""

    method: str  # filter exclude get q ~q q|q
    pairs: dict[str, Any]
    via_all: bool
    terminal: str

    def benign(self) -> tuple[type[Exception], ...]:
        return (NotFoundError, MultipleObjectsReturned) if self.method == "get" else ()

    def verdict(self) -> Verdict:
        return oracle.combine(
            [oracle.OK, *(oracle.lookup_verdict(HostileItem, k, v) for k, v in self.pairs.items())]
        )

    async def run(self, ctx: Context) -> Any:
        pairs = await ctx.resolve_all(self.pairs)
        base: Any = HostileItem.objects.all() if self.via_all else HostileItem.objects
        if self.method == "get":
            return await base.get(**pairs)
        if self.method == "filter":
            qs = base.filter(**pairs)
        elif self.method == "exclude":
            qs = base.exclude(**pairs)
        elif self.method == "q":
            qs = base.filter(Q(**pairs))
        elif self.method == "~q":
            qs = base.filter(~Q(**pairs))
        else:
            qs = base.filter(
                Q(**dict(list(pairs.items())[:1])) | ~Q(**dict(list(pairs.items())[1:]))
            )
        return await _terminal(ctx.show(qs), self.terminal)

    def describe(self) -> str:
        base = "HostileItem.objects" + (".all()" if self.via_all else "")
        if self.method in ("filter", "exclude", "get"):
            call = f"{base}.{self.method}({kwargs_repr(self.pairs)})"
        elif self.method == "q|q":
            items = list(self.pairs.items())
            call = f"{base}.filter(Q(**{dict(items[:1])!r}) | ~Q(**{dict(items[1:])!r}))"
        else:
            neg = "~" if self.method == "~q" else ""
            call = f"{base}.filter({neg}Q({kwargs_repr(self.pairs)}))"
        if self.method == "get":
            return f"await {call}"
        return f"await {call}" + ("" if self.terminal == "list" else f".{self.terminal}()")


_FIELD_METHODS = (
    "order_by",
    "values",
    "values_list",
    "values_list_flat",
    "only",
    "defer",
    "select_related",
    "prefetch_related",
)


@dataclass(repr=False)
class FieldsOp(Op):
    """order_by / values / values_list / only / defer / select_related / prefetch_related
    with positional names (strings or anything else Python lets through *args)."""

    method: str
    names: tuple[Any, ...]
    terminal: str

    def verdict(self) -> Verdict:
        method = "values_list" if self.method == "values_list_flat" else self.method
        parts = [oracle.field_names_verdict(method, self.names)]
        if self.method == "values_list_flat" and len(self.names) != 1:
            parts.append(oracle.FAIL)
        return oracle.combine([oracle.OK, *parts])

    async def run(self, ctx: Context) -> Any:
        qs: Any = HostileItem.objects.all()
        if self.method == "values_list_flat":
            qs = qs.values_list(*self.names, flat=True)
        else:
            qs = getattr(qs, self.method)(*self.names)
        return await _terminal(ctx.show(qs), self.terminal)

    def describe(self) -> str:
        args = ", ".join(repr(n) for n in self.names)
        if self.method == "values_list_flat":
            call = f"values_list({args}, flat=True)"
        else:
            call = f"{self.method}({args})"
        tail = "" if self.terminal == "list" else f".{self.terminal}()"
        return f"await HostileItem.objects.all().{call}{tail}"


def _expression_verdict(expr: Any, *, grouped: bool) -> Verdict:
    if isinstance(expr, Aggregate):
        return oracle.aggregate_verdict(expr.function, expr.field, over_instances=not grouped)
    if isinstance(expr, F) or (hasattr(expr, "lhs") and oracle.f_names(expr)):
        names = oracle.f_names(expr)
        return oracle.OK if all(n in ITEM_KINDS for n in names) else oracle.FAIL
    if expr is None or isinstance(expr, int | float | str | Q):
        return oracle.EITHER
    return Verdict("fail", why=f"{type(expr).__name__} as an annotation")


ANNOTATION_EXPRESSIONS: list[Any] = [
    F("i"),
    F("i") + 1,
    F("f") * 2,
    F(f"{MARKER}_field"),
    Count("id"),
    Count("owner"),
    Count("*"),
    Sum("i"),
    Sum("s"),
    Avg("f"),
    Max("at"),
    Min("u"),
    Count(f"{MARKER}_field"),
    Count(5),  # type: ignore[arg-type]
    5,
    "x",
    None,
    Q(i=1),
    object(),
]
_ALIASES = [
    *(["n", "total", "n_items", "x_y", "avg_f"] * 6),
    "名前",
    "N",
    "n" * 64,
    "n" * 200,
    *HOSTILE_NAMES,
]


@dataclass(repr=False)
class AnnotateOp(Op):
    """annotate(name=expression) per instance, or values("s").annotate(...) grouped."""

    name: str
    expr: Any
    grouped: bool
    then: str  # list filter order_by values

    def verdict(self) -> Verdict:
        alias = oracle.alias_verdict(self.name, attribute=not self.grouped, filterable=True)
        return oracle.combine([alias, _expression_verdict(self.expr, grouped=self.grouped)])

    async def run(self, ctx: Context) -> Any:
        qs: Any = HostileItem.objects.all()
        if self.grouped:
            qs = qs.values("s")
        qs = qs.annotate(**{self.name: self.expr})
        if self.then == "filter":
            qs = qs.filter(**{f"{self.name}__isnull": False})
        elif self.then == "order_by":
            qs = qs.order_by(f"-{self.name}")
        elif self.then == "values":
            qs = qs.values(self.name)
        return await ctx.show(qs)

    def describe(self) -> str:
        grouped = ".values('s')" if self.grouped else ""
        tail = {
            "list": "",
            "filter": f".filter(**{{{f'{self.name}__isnull'!r}: False}})",
            "order_by": f".order_by({'-' + self.name!r})",
            "values": f".values({self.name!r})",
        }[self.then]
        return (
            f"await HostileItem.objects.all(){grouped}.annotate(**{{{self.name!r}: "
            f"{self.expr!r}}}){tail}"
        )

    def check_result(self, result: Any) -> str | None:
        if self.verdict().must != "succeed":
            return None
        # An annotation adds a value per row (or per group of the 3 distinct "s"): it never
        # changes which rows come back.
        if self.then != "filter" and len(result) != 3:
            return f"{len(result)} rows came back instead of 3"
        for row in result:
            has = self.name in row if isinstance(row, dict) else hasattr(row, self.name)
            if not has:
                return f"a result row has no {self.name!r}: {row!r}"
        return None


AGGREGATES: list[Callable[[Any], Aggregate]] = [Count, Sum, Avg, Min, Max]
AGGREGATE_FIELDS: list[Any] = [
    *ITEM_KINDS,
    *ITEM_KINDS,
    *ITEM_KINDS,
    "*",
    "pk",
    "owner",
    "owner__id",
    "owner__name",
    F("i") + 1,
    *HOSTILE_NAMES[:12],
    *NON_STR_NAMES[:5],
]


@dataclass(repr=False)
class AggregateOp(Op):
    """aggregate(*positional, **named) with hostile names and fields."""

    positional: tuple[Aggregate, ...]
    named: dict[str, Aggregate]

    def _names(self) -> list[str]:
        names = []
        for agg in self.positional:
            if isinstance(agg.field, str):
                names.append(f"{agg.field}__{agg.function}".replace("*", "all"))
        return [*names, *self.named]

    def verdict(self) -> Verdict:
        parts = [oracle.OK]
        for agg in self.positional:
            if not isinstance(agg.field, str):
                parts.append(Verdict("fail", why="a positional aggregate needs a field name"))
            parts.append(oracle.aggregate_verdict(agg.function, agg.field, over_instances=False))
        for name, agg in self.named.items():
            parts.append(oracle.alias_verdict(name, attribute=False))
            parts.append(oracle.aggregate_verdict(agg.function, agg.field, over_instances=False))
        return oracle.combine(parts)

    async def run(self, ctx: Context) -> Any:
        return await HostileItem.objects.all().aggregate(*self.positional, **self.named)

    def describe(self) -> str:
        args = [repr(a) for a in self.positional]
        if self.named:
            args.append(f"**{{{', '.join(f'{k!r}: {v!r}' for k, v in self.named.items())}}}")
        return f"await HostileItem.objects.all().aggregate({', '.join(args)})"

    def check_result(self, result: Any) -> str | None:
        if self.verdict().must != "succeed":
            return None
        if set(result) != set(self._names()):
            return f"aggregate() returned the keys {sorted(result)}, not {sorted(self._names())}"
        return None


# --- strategies of operations ------------------------------------------------------------------

_FIELD_NAME = st.one_of(
    st.sampled_from([*ITEM_KINDS, *(f"-{k}" for k in ITEM_KINDS)]),
    st.sampled_from([*ITEM_KINDS, *(f"-{k}" for k in ITEM_KINDS)]),
    st.sampled_from([*ITEM_KINDS, *(f"-{k}" for k in ITEM_KINDS)]),
    st.sampled_from(["pk", "-pk", "owner", "owner__name", "-owner__id", "owner__items", "?"]),
    st.sampled_from(["--i", "+i", "j__k"]),
    st.sampled_from(HOSTILE_NAMES),
    st.sampled_from(NON_STR_NAMES),
)

LOOKUP_OPS = st.builds(
    LookupOp,
    method=st.sampled_from(["filter", "filter", "exclude", "get", "q", "~q", "q|q"]),
    pairs=st.lists(LOOKUP_PAIR, min_size=1, max_size=2).map(dict),
    via_all=st.booleans(),
    terminal=st.sampled_from(_TERMINALS),
)
FIELD_OPS = st.builds(
    FieldsOp,
    method=st.sampled_from(_FIELD_METHODS),
    names=st.lists(_FIELD_NAME, min_size=1, max_size=2).map(tuple),
    terminal=st.sampled_from(_TERMINALS),
)
ANNOTATE_OPS = st.builds(
    AnnotateOp,
    name=st.sampled_from(_ALIASES),
    expr=st.sampled_from(ANNOTATION_EXPRESSIONS),
    grouped=st.booleans(),
    then=st.sampled_from(["list", "filter", "order_by", "values"]),
).map(lambda op: op if isinstance(op.expr, Aggregate) or not op.grouped else _ungrouped(op))


def _ungrouped(op: AnnotateOp) -> AnnotateOp:
    op.grouped = False
    return op


_AGGREGATE = st.builds(
    lambda fn, fld: fn(fld), st.sampled_from(AGGREGATES), st.sampled_from(AGGREGATE_FIELDS)
)
AGGREGATE_OPS = st.builds(
    AggregateOp,
    positional=st.lists(_AGGREGATE, max_size=2).map(tuple),
    named=st.dictionaries(st.sampled_from(_ALIASES), _AGGREGATE, max_size=2),
).filter(lambda op: bool(op.positional or op.named))
NAME_OPS = st.one_of(FIELD_OPS, ANNOTATE_OPS, AGGREGATE_OPS)
