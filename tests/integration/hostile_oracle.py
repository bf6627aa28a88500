"""The oracle of the hostile-input fuzz test: which names and values orm_kit must take.

Each rule answers with a :class:`Verdict`: the operation must succeed, must fail, or may
do either; and whether a driver error (``DatabaseError``) is an acceptable way to fail.
The rules follow DESIGN.md ("a value that cannot be bound to its column's type raises
``ValidationError`` before any SQL", "a lookup that does not apply to a column's type
raises ``InvalidLookupError``", both the same on every backend) and PostgreSQL's types:
what PostgreSQL rejects (an ``integer`` beyond 32 bits, text with NUL, a string longer
than ``varchar(n)``) must be rejected on SQLite too, before SQL, instead of being stored.
Where DESIGN.md and Django leave a choice, the verdict is "either".
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from orm_kit import F, Q
from orm_kit.query.expressions import Aggregate, Combined, Resolvable
from tests.integration.hostile_models import HostileItem, HostileOwner

__all__ = [
    "EITHER",
    "FAIL",
    "LOOSE",
    "OK",
    "Ref",
    "Verdict",
    "alias_verdict",
    "combine",
    "field_names_verdict",
    "lookup_verdict",
    "text_ok",
    "write_value_verdict",
]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the operation must do: ``succeed``, ``fail`` or ``either``; ``db_ok`` says
    whether failing with ``DatabaseError`` (the value reached the driver) is acceptable."""

    must: Literal["succeed", "fail", "either"]
    db_ok: bool = False
    why: str = ""


OK = Verdict("succeed")
FAIL = Verdict("fail")
EITHER = Verdict("either")
LOOSE = Verdict("either", db_ok=True)


def _fail(why: str) -> Verdict:
    return Verdict("fail", why=why)


def _either(why: str, *, db_ok: bool = False) -> Verdict:
    return Verdict("either", db_ok=db_ok, why=why)


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """The verdict of an operation made of several parts: it must fail if one part must."""
    items = list(verdicts)
    db_ok = any(v.db_ok for v in items)
    failing = [v for v in items if v.must == "fail"]
    if failing:
        return Verdict("fail", db_ok, failing[0].why)
    loose = [v for v in items if v.must == "either"]
    if loose:
        return Verdict("either", db_ok, loose[0].why)
    return Verdict("succeed", db_ok)


@dataclass(frozen=True, slots=True)
class Ref:
    """A placeholder for an object the runner makes per example (an existing owner ...)."""

    name: Literal["OWNER", "ITEM", "ID_QUERYSET"]

    def __repr__(self) -> str:
        return {
            "OWNER": "<HostileOwner id=1001>",
            "ITEM": "<HostileItem id=1001>",
            "ID_QUERYSET": "HostileItem.objects.values_list('id', flat=True)",
        }[self.name]


# --- column kinds -------------------------------------------------------------------------

Kind = str  # int32 int64 str20 text bool float numeric aware naive date uuid json fk

ITEM_KINDS: dict[str, Kind] = {
    "id": "int32",
    "i": "int32",
    "ni": "int32",
    "big": "int64",
    "s": "str20",
    "t": "text",
    "b": "bool",
    "f": "float",
    "d": "numeric",
    "at": "aware",
    "nt": "naive",
    "dt": "date",
    "u": "uuid",
    "j": "json",
    "owner_id": "fk",
}
OWNER_KINDS: dict[str, Kind] = {"id": "int32", "name": "str20"}
KINDS: dict[type[Any], dict[str, Kind]] = {HostileItem: ITEM_KINDS, HostileOwner: OWNER_KINDS}
RELATIONS: dict[type[Any], dict[str, type[Any]]] = {
    HostileItem: {"owner": HostileOwner},
    HostileOwner: {"items": HostileItem},
}
NOT_NULL = {"i", "s", "b"}
OWNER_IDS = (1001, 1002)
SEED_ITEM_IDS = (1001, 1002, 1003)

_INT_RANGE = {"int32": 2**31, "int64": 2**63, "fk": 2**31}
_NUMERIC = {"int32", "int64", "fk", "float", "numeric"}
_TEXT = {"str20", "text"}
_TIMESTAMPS = {"aware", "naive"}
_TEXT_LOOKUPS = {
    "iexact",
    "contains",
    "icontains",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
}
_COMPARE = {"gt", "gte", "lt", "lte"}
LOOKUPS = ("exact", *_TEXT_LOOKUPS, "in", *_COMPARE, "range", "isnull", "regex", "iregex")
TRANSFORMS = ("date", "year", "month", "day", "hour", "minute", "week_day")


def text_ok(value: str) -> bool:
    """Whether PostgreSQL can store ``value`` as text (no NUL, no lone surrogate)."""
    return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)


def _is_int(value: Any) -> bool:
    return type(value) is int


def _aware(value: Any) -> bool:
    return type(value) is datetime and value.utcoffset() is not None


def _naive(value: Any) -> bool:
    return type(value) is datetime and value.tzinfo is None


def _expression(value: Any) -> bool:
    return isinstance(value, Resolvable | Q)


def f_names(value: Any) -> list[str]:
    """The field names an ``F`` / arithmetic tree refers to."""
    if isinstance(value, F):
        return [value.name]
    if isinstance(value, Combined):
        return f_names(value.lhs) + f_names(value.rhs)
    return []


# --- values written -----------------------------------------------------------------------


def _json_verdict(value: Any) -> Verdict:
    if value is None or type(value) is bool:
        return OK
    if type(value) is str:
        return OK if text_ok(value) else _either("JSON string with NUL or a lone surrogate")
    if _is_int(value):
        return OK if -(2**63) <= value < 2**63 else _either("JSON integer beyond 64 bits")
    if type(value) is float:
        return OK if math.isfinite(value) else _fail("NaN / infinity is not JSON")
    if type(value) is list:
        return combine(_json_verdict(v) for v in value)
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            return _fail("a JSON object key that is not a string would come back as one")
        return combine([*(_json_verdict(v) for v in value.values()), OK])
    return _fail(f"{type(value).__name__} is not a JSON value")


def write_value_verdict(kind: Kind, value: Any, *, nullable: bool) -> Verdict:
    """Whether ``value`` may be written to a column of ``kind`` (create, save, update)."""
    if value is None:
        return OK if nullable else _fail("None for a NOT NULL column")
    if isinstance(value, Ref) or _expression(value):
        return _fail(f"{value!r} is not a value of the column")
    if kind in _INT_RANGE:
        if not _is_int(value):
            return _fail(f"{type(value).__name__} for an integer column")
        limit = _INT_RANGE[kind]
        if not -limit <= value < limit:
            return _fail("integer out of the column's range")
        if kind == "fk" and value not in OWNER_IDS:
            return _fail("foreign key to a missing row")
        return OK
    if kind in _TEXT:
        if type(value) is not str:
            return _fail(f"{type(value).__name__} for a text column")
        if not text_ok(value):
            return _fail("text with NUL or a lone surrogate")
        if kind == "str20" and len(value) > 20:
            return _fail("string longer than String(20)")
        return OK
    if kind == "bool":
        return OK if type(value) is bool else _fail(f"{type(value).__name__} for a bool column")
    if kind == "float":
        if type(value) is float:
            return OK if math.isfinite(value) else _either("NaN / infinity for a float column")
        if _is_int(value) and abs(value) <= 2**53:
            return _either("an int for a float column")
        return _fail(f"{type(value).__name__} for a float column")
    if kind == "numeric":
        if type(value) is Decimal:
            if not value.is_finite():
                return _either("Decimal NaN / infinity for Numeric(10, 2)")
            if abs(value) >= 10**8:
                return _fail("Decimal too large for Numeric(10, 2)")
            if value != value.quantize(Decimal("0.01")):
                return _fail("Decimal with more than 2 places for Numeric(10, 2)")
            return OK
        if _is_int(value) and abs(value) < 10**8:
            return _either("an int for a Numeric column")
        if type(value) is float:  # taken as the Decimal of its shortest repr, as in Django
            if not math.isfinite(value):
                return _fail("float NaN / infinity for Numeric(10, 2)")
            return write_value_verdict("numeric", Decimal(str(value)), nullable=nullable)
        return _fail(f"{type(value).__name__} for a Numeric column")
    if kind == "aware":
        if not _aware(value):
            return _fail("not a timezone-aware datetime")
        try:
            value.astimezone(UTC)
        except OverflowError:
            return _fail("aware datetime outside the UTC range")
        return OK
    if kind == "naive":
        return OK if _naive(value) else _fail("not a naive datetime")
    if kind == "date":
        return OK if type(value) is date else _fail("not a date")
    if kind == "uuid":  # a uuid.UUID or its string form (orm_kit.query.values)
        return _uuid_verdict(value, OK)
    if kind == "json":
        return _json_verdict(value)
    raise AssertionError(kind)  # pragma: no cover


def _uuid_verdict(value: Any, string_form: Verdict) -> Verdict:
    """A UUID column's verdict: a ``uuid.UUID`` is fine, its string form ``string_form``."""
    if isinstance(value, uuid.UUID):
        return OK
    if type(value) is str:
        try:
            uuid.UUID(value)
        except ValueError:
            return _fail("not a UUID")
        return string_form
    return _fail("not a UUID")


def write_name_kind(model: type[Any], name: Any) -> Kind | None:
    """The kind of a name a write may set, ``"owner"`` for the relation, else ``None``."""
    if not isinstance(name, str):
        return None
    if name in KINDS[model]:
        return KINDS[model][name]
    if name in RELATIONS[model] and model is HostileItem:
        return "owner"
    return None


def write_pair_verdict(model: type[Any], name: Any, value: Any, *, creating: bool) -> Verdict:
    """A ``name=value`` pair of create / save / update."""
    kind = write_name_kind(model, name)
    if name == "pk":
        return _either("pk as a write name")
    if kind is None:
        return _fail(f"{name!r} is not a field")
    if kind == "owner":
        if value is None or value == Ref("OWNER"):
            return OK
        return _fail("the owner relation takes a HostileOwner")
    if name == "id":
        if value is None:
            return _either("id=None")
        verdict = write_value_verdict("int32", value, nullable=False)
        if verdict.must == "succeed" and value in SEED_ITEM_IDS:
            return _fail("primary key taken")
        return verdict
    if not creating and _expression(value):
        names = f_names(value)
        if isinstance(value, Q | Aggregate) or not names:
            return _fail(f"{value!r} in update()")
        if any(n not in KINDS[model] and n != "pk" for n in names):
            return _fail("F() naming an unknown field")
        return _either("an F() expression", db_ok=True)
    return write_value_verdict(kind, value, nullable=name not in NOT_NULL)


# --- lookups ------------------------------------------------------------------------------


def _read_value(kind: Kind, value: Any) -> Verdict:
    """Whether ``value`` can be compared with a column of ``kind``."""
    if isinstance(value, Ref):
        return _fail(f"{value!r} compared with a column")
    if isinstance(value, Q | Aggregate):
        return _fail(f"{value!r} as a lookup value")
    if _expression(value):
        names = f_names(value)
        if any(n not in ITEM_KINDS and n != "pk" for n in names):
            return _fail("F() naming an unknown field")
        same = isinstance(value, F) and ITEM_KINDS.get(value.name) == kind
        return OK if same else _either("an F() of another type", db_ok=True)
    if kind == "json":
        return _either("a comparison with a whole JSON column", db_ok=True)
    if kind in _INT_RANGE:
        if type(value) is bool:
            return _either("a bool for an integer column")
        if not _is_int(value):
            return _fail(f"{type(value).__name__} for an integer column")
        limit = _INT_RANGE[kind]
        return OK if -limit <= value < limit else _fail("integer out of the column's range")
    if kind in _TEXT:
        if type(value) is not str:
            return _fail(f"{type(value).__name__} for a text column")
        return OK if text_ok(value) else _fail("text with NUL or a lone surrogate")
    if kind == "bool":
        if type(value) is bool:
            return OK
        if _is_int(value) and value in (0, 1):
            return _either("0 / 1 for a bool")
        return _fail(f"{type(value).__name__} for a bool column")
    if kind == "float":
        if type(value) is float:
            return OK if math.isfinite(value) else _either("NaN / infinity")
        if _is_int(value) and abs(value) <= 2**53:
            return _either("an int for a float")
        if type(value) is Decimal:
            return _either("a Decimal for a float")
        return _fail(f"{type(value).__name__} for a float column")
    if kind == "numeric":
        if type(value) is Decimal:
            return OK if value.is_finite() else _either("Decimal NaN / infinity")
        if _is_int(value) or (type(value) is float and math.isfinite(value)):
            return _either("an int / float for a Numeric")
        return _fail(f"{type(value).__name__} for a Numeric column")
    if kind == "aware":
        verdict = write_value_verdict("aware", value, nullable=False)
        return verdict if verdict.must == "succeed" else _fail(verdict.why)
    if kind == "naive":
        return OK if _naive(value) else _fail("not a naive datetime")
    if kind == "date":
        return OK if type(value) is date else _fail("not a date")
    if kind == "uuid":
        return _uuid_verdict(value, _either("a UUID string"))
    raise AssertionError(kind)  # pragma: no cover


def _lookup_value(kind: Kind, lookup: str, value: Any) -> Verdict:
    if lookup == "isnull":
        return OK if type(value) is bool else _fail("isnull takes True / False")
    if value is None:
        if lookup == "exact":
            return OK
        if lookup != "iexact":
            return _fail(f"None for {lookup}")
        # iexact=None is isnull (as in Django) where iexact applies at all: text columns
        # (orm_kit refuses text lookups on a bool column, and may on other kinds).
        if kind == "bool":
            return _fail("iexact on a bool column")
        return OK if kind in _TEXT else _either(f"iexact=None on a {kind} column")
    if lookup == "in":
        if value == Ref("ID_QUERYSET"):
            return OK if kind in _INT_RANGE else _either("an id subquery", db_ok=True)
        if _expression(value):
            return _either("an expression for in")
        # (bytes and bytearray are sequences of ints, but a value, not values: refused.)
        if isinstance(value, str | bytes | bytearray | dict) or not isinstance(value, Iterable):
            return _fail("in takes a list")
        if kind == "json":  # refused whatever the list holds, even nothing
            return _either("in on a whole JSON column", db_ok=True)
        return combine(OK if v is None else _read_value(kind, v) for v in value)
    if lookup == "range":
        if _expression(value):
            return _either("an expression for range")
        if not isinstance(value, list | tuple) or len(value) != 2:
            return _fail("range takes a pair")
        return combine(
            _either("None in range") if v is None else _read_value(kind, v) for v in value
        )
    if lookup in _TEXT_LOOKUPS or lookup in ("regex", "iregex"):
        regex = lookup in ("regex", "iregex")
        if kind == "bool" and not regex:
            return _fail(f"{lookup} on a bool column")
        if kind not in _TEXT:
            return _either(f"{lookup} on a {kind} column", db_ok=regex or kind == "json")
        if _expression(value):
            return _either("an expression for a text lookup", db_ok=True)
        if type(value) is not str:
            return _fail(f"{type(value).__name__} for {lookup}")
        if not text_ok(value):
            return _fail("text with NUL or a lone surrogate")
        # An invalid pattern is rejected by the database's regex engine.
        return _either("a regex", db_ok=True) if regex else OK
    return _read_value(kind, value)


def _transformed(kind: Kind, transform: str) -> Kind | Verdict:
    if kind in _TIMESTAMPS:
        return "date" if transform == "date" else "int32"
    if kind == "date":
        if transform in ("hour", "minute", "date"):
            # Django has no date / hour / minute of a DateField; orm_kit refuses them.
            return _either(f"{transform} of a date")
        return "int32"
    return _fail(f"{transform} on a {kind} column")


def lookup_verdict(model: type[Any], key: Any, value: Any) -> Verdict:
    """Whether ``filter(**{key: value})`` must work, must fail, or may do either."""
    if not isinstance(key, str):
        return _fail("a lookup name that is not a string")
    field, *parts = key.split("__")
    kinds, relations = KINDS[model], RELATIONS[model]
    if field == "pk":
        field = "id"
    if field in relations:
        target = relations[field]
        if not parts:
            return _relation_value(value)
        if parts[0] in KINDS[target] or parts[0] in RELATIONS[target] or parts[0] == "pk":
            return lookup_verdict(target, "__".join(parts), value)
        if len(parts) == 1 and parts[0] in LOOKUPS:
            if parts[0] == "isnull":
                return _lookup_value("fk", "isnull", value)
            return _lookup_value("fk", parts[0], value)
        return _fail(f"{parts[0]!r} is not a field of {target.__name__}")
    if field not in kinds:
        return _fail(f"{field!r} is not a field")
    kind = kinds[field]
    if kind == "json" and parts:
        if parts == [p for p in parts if p in LOOKUPS]:
            pass  # a plain lookup on the whole JSON column
        else:
            return _either("a JSON key path", db_ok=True)
    lookup = "exact"
    for i, part in enumerate(parts):
        if part in TRANSFORMS:
            new = _transformed(kind, part)
            if isinstance(new, Verdict):
                if new.must == "fail":
                    return new
                return combine([new, _lookup_value("int32", "exact", value)])
            kind = new
            continue
        if part in LOOKUPS and i == len(parts) - 1:
            lookup = part
            break
        return _fail(f"{part!r} is not a lookup")
    return _lookup_value(kind, lookup, value)


def _relation_value(value: Any) -> Verdict:
    if value is None or value == Ref("OWNER"):
        return _either("a relation compared with an instance / None")
    return _lookup_value("fk", "exact", value) if _is_int(value) else _fail("owner=<non-id>")


# --- names of order_by / values / only / annotate / aggregate -------------------------------

_SQLISH = re.compile(r"""[\s'"`;\\()\[\]{}]|--|/\*|\*/""")


def alias_verdict(name: Any, *, attribute: bool, filterable: bool = False) -> Verdict:
    """A name for ``annotate(name=...)`` (``attribute``: it becomes an instance attribute)
    or ``aggregate(name=...)``: never SQL-ish (Django's rule since CVE-2022-28346)."""
    if not isinstance(name, str) or not name:
        return _fail("an empty or non-string alias")
    if _SQLISH.search(name) or not text_ok(name):
        return _fail("an alias with whitespace, quotes, semicolons, comments or NUL")
    if "__" in name and not attribute:
        # orm_kit refuses '__' in explicit names; Django accepts them.
        return _either("an alias with '__' (the lookup separator)")
    if attribute and (
        name.startswith(("__", "_sa_"))
        or "__" in name
        or name == "pk"
        or name in ITEM_KINDS
        or name in RELATIONS[HostileItem]
        or hasattr(HostileItem, name)
    ):
        return _fail(f"the annotation {name!r} would shadow an attribute of the model")
    if re.fullmatch(r"[a-z][a-z0-9_]*", name) and len(name) <= 63:
        return OK
    if attribute and name.startswith("_"):
        return _either("a private attribute name")
    return _either("an unusual alias (unicode, upper case, long)")


def field_names_verdict(
    method: str, names: Iterable[Any], annotations: Iterable[str] = ()
) -> Verdict:
    """Names given to order_by / values / values_list / only / defer / select_related /
    prefetch_related."""
    return combine(_field_name(method, n, set(annotations)) for n in names)


def _field_name(method: str, name: Any, annotations: set[str]) -> Verdict:
    if method == "order_by":
        if isinstance(name, F) or (isinstance(name, Resolvable) and hasattr(name, "expr")):
            inner = name if isinstance(name, F) else getattr(name, "expr", None)
            names = f_names(inner)
            if not all(n in ITEM_KINDS for n in names):
                return _fail("F() of an unknown field")
            if isinstance(inner, F) and ITEM_KINDS.get(inner.name) == "json":
                return _fail("ordering by a JSON column")
            return OK
        if not isinstance(name, str):
            return _fail(f"{type(name).__name__} in order_by()")
        if name in ("", "-", "+"):
            return _fail("an empty ordering name")
        if name.startswith("-") and not name[1:].startswith(("-", "+")):
            name = name[1:]
        elif name == "?" or name.startswith(("-", "+")):
            return _either("a Django ordering spelling")
    if not isinstance(name, str):
        return _fail(f"{type(name).__name__} as a field name")
    if method in ("select_related", "prefetch_related"):
        if name == "owner" or (method == "prefetch_related" and name == "owner__items"):
            return OK
        return _fail(f"{name!r} is not a relation path")
    if method == "order_by" and ITEM_KINDS.get(name) == "json" and name not in annotations:
        return _fail("ordering by a JSON column (PostgreSQL's json has no order)")
    if name in ITEM_KINDS or (name in annotations and method in ("values", "values_list")):
        return OK
    if name in annotations and method == "order_by":
        return OK
    if name == "pk" or name == "owner":
        return _either(f"{name!r} in {method}()")
    if name in ("owner__name", "owner__id") and method in ("order_by", "values", "values_list"):
        return OK
    if name.startswith(("owner__", "j__")):
        return _either("a path")
    return _fail(f"{name!r} is not a field")


def aggregate_verdict(function: str, field: Any, *, over_instances: bool) -> Verdict:
    """``Count / Sum / Avg / Min / Max(field)``."""
    if isinstance(field, Resolvable):
        names = f_names(field)
        if not names or any(n not in ITEM_KINDS for n in names):
            return _fail("an aggregate over an unknown expression")
        return _either("an aggregate over an expression", db_ok=True)
    if not isinstance(field, str):
        return _fail(f"{type(field).__name__} as an aggregate field")
    if field == "*":
        return OK if function == "count" else _fail(f"{function}('*')")
    if field == "owner" and function == "count":
        return OK
    kind = ITEM_KINDS.get("id" if field == "pk" else field)
    if field in ("owner__id", "owner__name"):
        kind = "int32" if field == "owner__id" else "str20"
    if kind is None:
        if field.startswith(("owner__", "owner")) and not over_instances:
            return _either("a relation path")
        return _fail(f"{field!r} is not a field")
    if function == "count":
        return OK
    if function in ("sum", "avg"):
        return OK if kind in _NUMERIC else _either(f"{function} of a {kind} column")
    if kind in ("bool", "uuid", "json"):
        return _either(f"{function} of a {kind} column")
    return OK
