"""Hostile names and values, and the operations of the hostile-input fuzz test.

Each operation is a small object that knows how to run itself against the ``hostile_*``
tables, what the oracle (``hostile_oracle``) says it must do, how to describe itself as
code (the reproduction hypothesis prints) and, for writes, which rows and values it
should have written.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

from hypothesis import strategies as st

from orm_kit import Avg, Count, F, Max, Min, Q, Sum
from orm_kit.exceptions import MultipleObjectsReturned, NotFoundError
from orm_kit.query.expressions import Aggregate
from tests.integration import hostile_oracle as oracle
from tests.integration.hostile_models import HostileItem, HostileOwner
from tests.integration.hostile_oracle import ITEM_KINDS, Ref, Verdict

MARKER = "h0st1le"
"""Every SQL-fragment name and value carries it; it must never appear in SQL text."""

# --- hostile values -----------------------------------------------------------------------

_PLUS_5 = timezone(timedelta(hours=5))
_MINUS_5 = timezone(timedelta(hours=-5))


def _lambda() -> int:
    return 1


HOSTILE_VALUES: list[Any] = [
    # integers beyond the columns and the drivers
    2**31,
    -(2**31) - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    -(2**64),
    2**200,
    -(2**200),
    # floats and decimals that are not numbers
    math.nan,
    math.inf,
    -math.inf,
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    Decimal("1.005"),
    Decimal("1e30"),
    1e308,
    5e-324,
    1.5,
    Decimal("1.5"),
    complex(1, 2),
    # bytes and strings drivers cannot take, or that do not fit
    b"abc",
    bytearray(b"\x00\xff"),
    "a\x00b",
    "\x00",
    "\udc80",
    "x\ud800y",
    "x" * 21,
    "é" * 21,
    "x" * 100_000,
    "",
    " ",
    # SQL text as a value
    f"1; DROP TABLE hostile_item --{MARKER}",
    f"' OR 1=1 --{MARKER}",
    f"{MARKER}') OR ('1'='1",
    f'{MARKER}" OR "1"="1',
    # containers
    [1, 2],
    [[1]],
    [None],
    [2**64],
    (1, 2),
    (),
    [],
    {1, 2},
    frozenset({1}),
    {"a": 1},
    {1: "a"},
    {"a": {1, 2}},
    {"k": math.nan},
    # objects, callables, expressions where a value goes
    object(),
    _lambda,
    print,
    int,
    Ellipsis,
    F("i"),
    F("s"),
    F(f"{MARKER}_field"),
    F("i") + 1,
    Q(i=1),
    Count("id"),
    Ref("OWNER"),
    Ref("ITEM"),
    Ref("ID_QUERYSET"),
    # bools for ints, ints for bools, strings for everything
    True,
    False,
    0,
    1,
    -1,
    2,
    "yes",
    "true",
    "1",
    "2024-01-02",
    # UUIDs
    "not-a-uuid",
    "12345678-1234-5678-1234-567812345678",
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    123,
    # datetimes of the wrong flavour, and at the edges
    datetime(2024, 1, 2, 3, 4, 5),
    datetime(2024, 1, 2, 3, 4, 5, tzinfo=_PLUS_5),
    date(2024, 1, 2),
    datetime(1, 1, 1, 0, 0, tzinfo=_PLUS_5),
    datetime(9999, 12, 31, 23, 59, tzinfo=_MINUS_5),
    datetime.min,
    datetime.max,
    time(1, 2),
    timedelta(days=1),
    None,
]

# --- hostile names ------------------------------------------------------------------------

SQL_NAMES = [
    f"id; DROP TABLE hostile_item --{MARKER}",
    f"i) OR 1=1 --{MARKER}",
    f"i' OR '1'='1 {MARKER}",
    f'i" OR "1"="1 {MARKER}',
    f"i/*{MARKER}*/",
    f"i -- {MARKER}",
    f"{MARKER}`",
    f"i;{MARKER}",
    f"(SELECT 1) {MARKER}",
]
WEIRD_NAMES = [
    "",
    " ",
    "\t",
    "\n",
    "-",
    "__",
    "___",
    "i__",
    "pk__",
    "__i",
    "i__in__x",
    "id__in__x",
    "i__exact__exact",
    "i__gt__lt",
    "i__year",
    "s__year__gt",
    "b__icontains",
    "i\x00",
    "\x00",
    "i\x00__gt",
    "\udc80",
    "i\udc80",
    "I",
    " i",
    "i ",
    "i\u200b",
    "\uff49",  # fullwidth i: NFKC-normalizes to "i" in source code, not in kwargs
    "ï",
    "名前",
    "i" * 10_000,
    "i__" + "x" * 5_000,
    "x" * 64,
    "owner__",
    f"owner__{MARKER}",
    "owner__items__",
    "j__",
]
PRIVATE_NAMES = [
    "_sa_instance_state",
    "_sa_class_manager",
    "_sa_orm_kit_state",
    "__class__",
    "__dict__",
    "__init__",
    "__module__",
    "__weakref__",
    "__table__",
    "__mapper__",
    "__tablename__",
    "__orm_kit_root__",
    "_foo",
    "_i",
    "metadata",
    "objects",
    "registry",
    "DoesNotExist",
    "MultipleObjectsReturned",
    "save",
    "delete",
    "update",
    "to_dict",
    "related",
    "pk",
    "query_state",
]
HOSTILE_NAMES = SQL_NAMES + WEIRD_NAMES + PRIVATE_NAMES
NON_STR_NAMES: list[Any] = [
    1,
    None,
    b"i",
    1.5,
    True,
    object(),
    ("i",),
    ["i"],
    F("i"),
    F(f"{MARKER}_field"),
    F("i").desc(),
    Q(i=1),
]

# --- value strategies -----------------------------------------------------------------------

_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
_SAFE_CHARS = st.characters(blacklist_categories=_SURROGATES, blacklist_characters="\x00")
_TRICKY = ["abc", "ABC", "%", "_", "\\", "'", '"', "a%b_c", "O'Reilly", "名前", "😀" * 20, ""]


def _text(max_size: int) -> st.SearchStrategy[str]:
    return st.one_of(st.text(_SAFE_CHARS, max_size=max_size), st.sampled_from(_TRICKY))


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_SAFE_CHARS, max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(_SAFE_CHARS, max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)

VALID: dict[str, st.SearchStrategy[Any]] = {
    "int32": st.one_of(
        st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, 1, 2, -1, 2**31 - 1, -(2**31)])
    ),
    "int64": st.integers(-(2**63), 2**63 - 1),
    "str20": _text(20),
    "text": _text(300),
    "bool": st.booleans(),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "numeric": st.decimals(
        min_value=Decimal("-99999999.99"), max_value=Decimal("99999999.99"), places=2
    ),
    "aware": st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=_ZONES
    ),
    "naive": st.datetimes(),
    "date": st.dates(),
    "uuid": st.uuids(),
    "json": _JSON,
    "fk": st.sampled_from([1001, 1002, None]),
    "owner": st.sampled_from([Ref("OWNER"), None]),
}
_HOSTILE_VALUE = st.sampled_from(HOSTILE_VALUES)


def value_for(kind: str | None) -> st.SearchStrategy[Any]:
    """Mostly values of the column's type, often hostile ones."""
    if kind is None:
        return _HOSTILE_VALUE
    valid = VALID[kind]
    return st.one_of(valid, valid, valid, _HOSTILE_VALUE)


# --- lookups --------------------------------------------------------------------------------

_SUFFIXES = [
    "",
    "__exact",
    "__iexact",
    "__contains",
    "__icontains",
    "__startswith",
    "__istartswith",
    "__endswith",
    "__iendswith",
    "__in",
    "__gt",
    "__gte",
    "__lt",
    "__lte",
    "__range",
    "__isnull",
    "__regex",
    "__iregex",
    "__date",
    "__date__lt",
    "__year",
    "__year__gte",
    "__month__in",
    "__day",
    "__hour__range",
    "__minute",
    "__week_day",
]
_RELATION_KEYS = [
    "owner",
    "owner__in",
    "owner__isnull",
    "owner__gt",
    "owner__name",
    "owner__name__icontains",
    "owner__id__in",
    "owner__pk",
    "owner__items__s",
    "owner__items__i__gt",
    "owner_id",
]
_JSON_KEYS = [
    "j__k",
    "j__n",
    "j__n__gt",
    "j__l__0",
    "j__k__icontains",
    "j__missing__isnull",
    f"j__{SQL_NAMES[0]}",
    "j____k",
]


def _kind_of_key(key: str) -> tuple[str | None, str]:
    """The column kind a lookup key compares with, and its lookup (best effort, for the
    value strategy only; the oracle decides what is valid)."""
    field_name, *parts = key.split("__")
    if field_name == "owner" and parts and parts[0] == "items":
        field_name, parts = parts[1] if len(parts) > 1 else "", parts[2:]
    elif field_name == "owner":
        if parts and parts[0] == "name":
            return "str20", parts[-1] if len(parts) > 1 else "exact"
        return "fk", parts[-1] if parts else "exact"
    kind = ITEM_KINDS.get("id" if field_name == "pk" else field_name)
    lookup = "exact"
    for part in parts:
        if part in oracle.TRANSFORMS:
            kind = "date" if part == "date" else "int32"
        else:
            lookup = part
    if kind == "json" and parts:
        return None, lookup
    return kind, lookup


def _value_for_key(key: str) -> st.SearchStrategy[Any]:
    kind, lookup = _kind_of_key(key)
    if lookup == "isnull":
        return st.one_of(st.booleans(), _HOSTILE_VALUE)
    if kind is None:
        return _HOSTILE_VALUE | VALID["json"]
    single = value_for(kind)
    if lookup == "in":
        return st.one_of(st.lists(single, max_size=3), _HOSTILE_VALUE)
    if lookup == "range":
        return st.one_of(st.tuples(VALID[kind], VALID[kind]), st.tuples(single, single), single)
    if lookup in ("regex", "iregex"):
        return st.one_of(st.sampled_from(["^a", "b.*c", "[0-9]+", "(", "x{2,1}"]), single)
    return single


_ANY_KIND = ["", "__exact", "__in", "__isnull", "__gt", "__lte", "__range"]
_BY_KIND = {
    "str20": [*_ANY_KIND, "__iexact", "__contains", "__icontains", "__startswith", "__iendswith"],
    "text": [*_ANY_KIND, "__istartswith", "__endswith", "__regex", "__iregex"],
    "aware": [*_ANY_KIND, "__date", "__year", "__month__in", "__hour__range", "__week_day"],
    "naive": [*_ANY_KIND, "__date__lt", "__year__gte", "__day", "__minute"],
    "date": [*_ANY_KIND, "__year", "__month", "__day", "__week_day"],
    "json": ["__isnull", "__k", "__n__gt", "__l__0", "__k__icontains"],
}
SENSIBLE_KEYS = sorted(
    f"{column}{suffix}"
    for column, kind in ITEM_KINDS.items()
    for suffix in _BY_KIND.get(kind, _ANY_KIND)
)
_SENSIBLE_KEY = st.sampled_from(SENSIBLE_KEYS)
_VALID_KEY = st.builds(
    str.__add__, st.sampled_from([*ITEM_KINDS, "pk"]), st.sampled_from(_SUFFIXES)
)
LOOKUP_KEY: st.SearchStrategy[str] = st.one_of(
    _SENSIBLE_KEY,
    _SENSIBLE_KEY,
    _SENSIBLE_KEY,
    _SENSIBLE_KEY,
    _VALID_KEY,
    st.sampled_from(_RELATION_KEYS),
    st.sampled_from(_JSON_KEYS),
    st.sampled_from(HOSTILE_NAMES),
    st.builds(
        lambda c, n: f"{c}__{n}", st.sampled_from(list(ITEM_KINDS)), st.sampled_from(HOSTILE_NAMES)
    ),
    st.text(min_size=1, max_size=12),
)


def _valid_for_key(key: str) -> st.SearchStrategy[Any]:
    kind, lookup = _kind_of_key(key)
    if lookup == "isnull":
        return st.booleans()
    if kind is None:
        return VALID["json"]
    if lookup in ("regex", "iregex"):
        return st.sampled_from(["^a", "b.*c", "[0-9]+", "A"])
    if kind in ("str20", "text") and lookup not in ("exact", "in", "range"):
        return VALID["str20"]
    valid = VALID[kind]
    if lookup == "in":
        return st.lists(valid, max_size=3)
    if lookup == "range":
        return st.tuples(valid, valid)
    return valid


# Two of three pairs are a sensible lookup with a value of its column's type, so the
# success paths are exercised as much as the refusals.
_VALID_PAIR = _SENSIBLE_KEY.flatmap(lambda k: st.tuples(st.just(k), _valid_for_key(k)))
LOOKUP_PAIR = st.one_of(
    _VALID_PAIR,
    _VALID_PAIR,
    LOOKUP_KEY.flatmap(lambda k: st.tuples(st.just(k), _value_for_key(k))),
)


def _write_kind(key: str) -> str | None:
    if key == "owner":
        return "owner"
    if key == "owner_id":
        return "fk"
    if key == "id":
        return None
    return ITEM_KINDS.get(key)


WRITE_KEY: st.SearchStrategy[str] = st.one_of(
    st.sampled_from([k for k in ITEM_KINDS if k != "id"] + ["owner"]),
    st.sampled_from([k for k in ITEM_KINDS if k != "id"] + ["owner"]),
    st.sampled_from(["id", "pk", "owner_id"]),
    st.sampled_from(HOSTILE_NAMES),
)


def _write_value(key: str) -> st.SearchStrategy[Any]:
    if key == "id":
        return st.one_of(st.integers(5000, 5100), _HOSTILE_VALUE)
    return value_for(_write_kind(key))


_VALID_WRITE_KEY = st.sampled_from([k for k in ITEM_KINDS if k != "id"] + ["owner"])
WRITE_PAIR = st.one_of(
    _VALID_WRITE_KEY.flatmap(lambda k: st.tuples(st.just(k), VALID[_write_kind(k) or "int32"])),
    WRITE_KEY.flatmap(lambda k: st.tuples(st.just(k), _write_value(k))),
)


def _one_owner_spelling(payload: dict[str, Any]) -> dict[str, Any]:
    # owner=... and owner_id=... together make the intended value ambiguous.
    if "owner" in payload:
        payload.pop("owner_id", None)
    return payload


PAYLOAD = st.lists(WRITE_PAIR, max_size=3).map(dict).map(_one_owner_spelling)
# Changing primary keys of existing rows is not what these writes are about.
UPDATE_PAYLOAD = PAYLOAD.map(lambda p: {k: v for k, v in p.items() if k not in ("id", "pk")})


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


def _kw(pairs: dict[Any, Any]) -> str:
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
            call = f"{base}.{self.method}({_kw(self.pairs)})"
        elif self.method == "q|q":
            items = list(self.pairs.items())
            call = f"{base}.filter(Q(**{dict(items[:1])!r}) | ~Q(**{dict(items[1:])!r}))"
        else:
            neg = "~" if self.method == "~q" else ""
            call = f"{base}.filter({neg}Q({_kw(self.pairs)}))"
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


# --- writes ----------------------------------------------------------------------------------


def _expected(payload: dict[str, Any]) -> dict[str, Any]:
    """The column values ``payload`` writes (the relation becomes its key)."""
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if key == "owner":
            out["owner_id"] = None if value is None else 1001
        elif key in ITEM_KINDS:
            out[key] = ANY if oracle.f_names(value) else value
    return out


def _pairs_verdict(payload: dict[str, Any], *, creating: bool) -> Verdict:
    return oracle.combine(
        [
            oracle.OK,
            *(
                oracle.write_pair_verdict(HostileItem, k, v, creating=creating)
                for k, v in payload.items()
            ),
        ]
    )


@dataclass(repr=False)
class CreateOp(Op):
    """Model.objects.create(**payload) / Model(**payload).save()."""

    payload: dict[str, Any]
    style: str  # create save

    writes = True

    def verdict(self) -> Verdict:
        return _pairs_verdict(self.payload, creating=True)

    async def run(self, ctx: Context) -> Any:
        payload = await ctx.resolve_all(self.payload)
        if self.style == "create":
            return await HostileItem.objects.create(**payload)
        obj = HostileItem(**payload)
        await obj.save()
        return obj

    def describe(self) -> str:
        if self.style == "create":
            return f"await HostileItem.objects.create({_kw(self.payload)})"
        return f"await HostileItem({_kw(self.payload)}).save()"

    def written(self, result: Any) -> Written:
        pk = result.__dict__.get("id")
        return Written({pk: _expected(self.payload)}, {pk})


@dataclass(repr=False)
class BulkCreateOp(Op):
    payloads: tuple[dict[str, Any], ...]

    writes = True

    def verdict(self) -> Verdict:
        ids = [p["id"] for p in self.payloads if type(p.get("id")) is int]
        duplicate = len(ids) != len(set(ids))
        return oracle.combine(
            [
                *(_pairs_verdict(p, creating=True) for p in self.payloads),
                Verdict("fail", why="the same primary key twice") if duplicate else oracle.OK,
            ]
        )

    async def run(self, ctx: Context) -> Any:
        objs = [HostileItem(**await ctx.resolve_all(p)) for p in self.payloads]
        return await HostileItem.objects.bulk_create(objs)

    def describe(self) -> str:
        objs = ", ".join(f"HostileItem({_kw(p)})" for p in self.payloads)
        return f"await HostileItem.objects.bulk_create([{objs}])"

    def written(self, result: Any) -> Written:
        pairs = zip(result, self.payloads, strict=True)
        rows = {obj.__dict__.get("id"): _expected(p) for obj, p in pairs}
        return Written(rows, set(rows))


_TARGETS: dict[str, tuple[str, dict[str, Any], tuple[int, ...]]] = {
    "one": ("filter(id=1002)", {"id": 1002}, (1002,)),
    "two": ("filter(id__in=[1001, 1003])", {"id__in": [1001, 1003]}, (1001, 1003)),
    "all": ("all()", {}, (1001, 1002, 1003)),
    "none": ("filter(id=999)", {"id": 999}, ()),
}


@dataclass(repr=False)
class UpdateOp(Op):
    """QuerySet.update(**payload) on 0, 1, 2 or 3 rows."""

    target: str
    payload: dict[str, Any]

    writes = True

    def verdict(self) -> Verdict:
        parts = [_pairs_verdict(self.payload, creating=False)]
        if not self.payload:
            parts.append(oracle.FAIL)
        if "owner" in self.payload:  # Django's update(fk=obj); orm_kit may refuse it
            parts.append(oracle.EITHER)
        return oracle.combine(parts)

    async def run(self, ctx: Context) -> Any:
        payload = await ctx.resolve_all(self.payload)
        filters = _TARGETS[self.target][1]
        return await HostileItem.objects.filter(**filters).update(**payload)

    def describe(self) -> str:
        return f"await HostileItem.objects.{_TARGETS[self.target][0]}.update({_kw(self.payload)})"

    def written(self, result: Any) -> Written:
        ids = _TARGETS[self.target][2]
        return Written({pk: _expected(self.payload) for pk in ids})

    def check_result(self, result: Any) -> str | None:
        expected = len(_TARGETS[self.target][2])
        return None if result == expected else f"update() returned {result!r}, not {expected}"


@dataclass(repr=False)
class InstanceUpdateOp(Op):
    """obj = get(id=1002); obj.update(**payload); await obj.save()."""

    payload: dict[str, Any]

    writes = True

    def verdict(self) -> Verdict:
        return _pairs_verdict(self.payload, creating=True)

    async def run(self, ctx: Context) -> Any:
        payload = await ctx.resolve_all(self.payload)
        obj = await HostileItem.objects.get(id=1002)
        obj.update(**payload)
        await obj.save()
        return obj

    def describe(self) -> str:
        return (
            f"obj = await HostileItem.objects.get(id=1002); obj.update({_kw(self.payload)}); "
            "await obj.save()"
        )

    def written(self, result: Any) -> Written:
        return Written({1002: _expected(self.payload)})


@dataclass(repr=False)
class BulkUpdateOp(Op):
    """Set attributes on two loaded rows, then bulk_update(objs, fields)."""

    payload: dict[str, Any]
    fields: tuple[Any, ...]

    writes = True

    def verdict(self) -> Verdict:
        parts = [oracle.OK]
        if not self.fields:
            parts.append(oracle.FAIL)
        for name in self.fields:
            if not isinstance(name, str) or name not in ITEM_KINDS or name == "id":
                parts.append(Verdict("fail", why=f"{name!r} in bulk_update(fields=...)"))
            elif name in self.payload:
                value = self.payload[name]
                parts.append(oracle.write_pair_verdict(HostileItem, name, value, creating=True))
        return oracle.combine(parts)

    async def run(self, ctx: Context) -> Any:
        payload = await ctx.resolve_all(self.payload)
        objs = list(await HostileItem.objects.filter(id__in=[1001, 1002]).order_by("id"))
        for obj in objs:
            for key, value in payload.items():
                # Inside a session the loaded rows are attached: commit would flush every
                # changed attribute (the unit of work, not bulk_update), so change only
                # the named fields there.
                if key in self.fields or not ctx.in_session:
                    setattr(obj, key, value)
        return await HostileItem.objects.bulk_update(objs, list(self.fields))

    def describe(self) -> str:
        sets = "; ".join(f"obj.{k} = {v!r}" for k, v in self.payload.items()) or "pass"
        return (
            "objs = await HostileItem.objects.filter(id__in=[1001, 1002]); "
            f"for obj in objs: {sets}; "
            f"await HostileItem.objects.bulk_update(objs, {list(self.fields)!r})"
        )

    def written(self, result: Any) -> Written:
        values = {f: self.payload[f] for f in self.fields if f in self.payload}
        return Written({1001: dict(values), 1002: dict(values)})

    def check_result(self, result: Any) -> str | None:
        return None if result == 2 else f"bulk_update() returned {result!r}, not 2"


BULK_UPDATE_KEYS = [k for k in ITEM_KINDS if k not in ("id", "owner_id")]

GET_OR_CREATE_LOOKUPS = st.one_of(
    st.just({"id": 1001}),
    st.just({"s": "abc"}),
    st.just({"i": 2}),
    st.builds(lambda pk: {"id": pk}, st.integers(5000, 5100)),
    st.builds(lambda s: {"s": s, "t": "created"}, VALID["str20"]),
    st.lists(LOOKUP_PAIR, min_size=1, max_size=2).map(dict),
)
DEFAULTS = (
    st.lists(
        WRITE_PAIR.filter(lambda kv: not callable(kv[1]) or isinstance(kv[1], F | Q | Aggregate)),
        max_size=3,
    )
    .map(dict)
    .map(_one_owner_spelling)
)


@dataclass(repr=False)
class GetOrCreateOp(Op):
    """get_or_create / update_or_create(defaults=..., **lookups)."""

    method: str
    lookups: dict[str, Any]
    defaults: dict[str, Any]

    writes = True

    def benign(self) -> tuple[type[Exception], ...]:
        return (MultipleObjectsReturned,)

    def create_values(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.lookups.items() if "__" not in k}, **self.defaults}

    def verdict(self) -> Verdict:
        lookups = oracle.combine(
            [
                oracle.OK,
                *(oracle.lookup_verdict(HostileItem, k, v) for k, v in self.lookups.items()),
            ]
        )
        if lookups.must == "fail":
            return lookups
        creating = _pairs_verdict(self.create_values(), creating=True)
        defaults = _pairs_verdict(self.defaults, creating=True)
        # Whether the row exists decides which values are written: the verdict of the
        # write itself is checked in written() once the outcome is known.
        either = creating.must != "succeed" or defaults.must != "succeed"
        if either or lookups.must == "either":
            return Verdict("either", lookups.db_ok or creating.db_ok or defaults.db_ok, "")
        return oracle.OK

    def write_verdict(self, created: bool) -> Verdict:
        if created:
            return _pairs_verdict(self.create_values(), creating=True)
        if self.method == "update_or_create":
            return _pairs_verdict(self.defaults, creating=True)
        return oracle.OK

    async def run(self, ctx: Context) -> Any:
        lookups = await ctx.resolve_all(self.lookups)
        defaults = await ctx.resolve_all(self.defaults)
        fn = getattr(HostileItem.objects, self.method)
        return await fn(defaults=defaults, **lookups)

    def describe(self) -> str:
        return (
            f"await HostileItem.objects.{self.method}(defaults={self.defaults!r}, "
            f"{_kw(self.lookups)})"
        )

    def written(self, result: Any) -> Written:
        obj, created = result
        pk = obj.__dict__.get("id")
        if created:
            return Written({pk: _expected(self.create_values())}, {pk})
        if self.method == "update_or_create":
            return Written({pk: _expected(self.defaults)})
        return Written()


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

WRITE_OPS = st.one_of(
    st.builds(CreateOp, payload=PAYLOAD, style=st.sampled_from(["create", "save"])),
    st.builds(BulkCreateOp, payloads=st.lists(PAYLOAD, min_size=1, max_size=3).map(tuple)),
    st.builds(UpdateOp, target=st.sampled_from(list(_TARGETS)), payload=UPDATE_PAYLOAD),
    st.builds(InstanceUpdateOp, payload=UPDATE_PAYLOAD),
    st.builds(
        BulkUpdateOp,
        payload=st.lists(
            st.sampled_from(BULK_UPDATE_KEYS).flatmap(
                lambda k: st.tuples(st.just(k), value_for(ITEM_KINDS[k]))
            ),
            max_size=3,
        ).map(dict),
        fields=st.lists(
            st.one_of(
                st.sampled_from(BULK_UPDATE_KEYS),
                st.sampled_from(BULK_UPDATE_KEYS),
                st.sampled_from(["id", "owner", "pk", *HOSTILE_NAMES, *NON_STR_NAMES]),
            ),
            max_size=3,
            unique_by=repr,
        ).map(tuple),
    ),
    st.builds(
        GetOrCreateOp,
        method=st.just("get_or_create"),
        lookups=GET_OR_CREATE_LOOKUPS,
        defaults=DEFAULTS,
    ),
    st.builds(
        GetOrCreateOp,
        method=st.just("update_or_create"),
        lookups=GET_OR_CREATE_LOOKUPS,
        # Changing the primary key of the matched row is not what this is about.
        defaults=DEFAULTS.map(lambda d: {k: v for k, v in d.items() if k not in ("id", "pk")}),
    ),
)
NAME_OPS = st.one_of(FIELD_OPS, ANNOTATE_OPS, AGGREGATE_OPS)
