"""Hostile names and values for the hostile-input fuzz test, and the strategies that mix
them with valid ones (two of three lookups and write pairs are valid, so the success
paths are exercised as much as the refusals).
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

from hypothesis import strategies as st

from orm_kit import Count, F, Q
from tests.integration import hostile_oracle as oracle
from tests.integration.hostile_oracle import ITEM_KINDS, Ref

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
    "float": st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([0.0, 2.0, -3.0, 1e15]),  # whole: SQLite's RETURNING gave ints
    ),
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


def one_owner_spelling(payload: dict[str, Any]) -> dict[str, Any]:
    # owner=... and owner_id=... together make the intended value ambiguous.
    if "owner" in payload:
        payload.pop("owner_id", None)
    return payload


PAYLOAD = st.lists(WRITE_PAIR, max_size=3).map(dict).map(one_owner_spelling)
# Changing primary keys of existing rows is not what these writes are about.
UPDATE_PAYLOAD = PAYLOAD.map(lambda p: {k: v for k, v in p.items() if k not in ("id", "pk")})
