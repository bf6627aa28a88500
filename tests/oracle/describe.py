"""Query descriptions: plain frozen data standing for orm_kit calls.

:mod:`tests.oracle.runner` turns a description into orm_kit calls,
:mod:`tests.oracle.semantics` evaluates it in Python, and ``code()`` prints it as the
orm_kit code it stands for, so a mismatch reads as a reproduction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# --- descriptions -----------------------------------------------------------------------


def code_of(value: Any) -> str:
    """``value`` as Python source (descriptions render themselves)."""
    if hasattr(value, "code"):
        return str(value.code())
    if isinstance(value, list):
        return "[" + ", ".join(code_of(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(code_of(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, datetime) and value.tzinfo is not None:
        offset = value.utcoffset()
        assert offset is not None
        base = repr(value.replace(tzinfo=None)).removeprefix("datetime.").removesuffix(")")
        return f"{base}, tzinfo=timezone(timedelta(seconds={int(offset.total_seconds())})))"
    return repr(value).removeprefix("datetime.")


@dataclass(frozen=True)
class FRef:
    """``F(name)``."""

    name: str

    def code(self) -> str:
        return f"F({self.name!r})"


@dataclass(frozen=True)
class FOp:
    """``lhs <op> rhs`` with ``+ - * %`` (``%`` only with positive operands)."""

    lhs: FRef | FOp | int | float
    op: str
    rhs: FRef | FOp | int | float

    def code(self) -> str:
        def side(v: Any) -> str:
            return f"({v.code()})" if isinstance(v, FOp) else code_of(v)

        return f"{side(self.lhs)} {self.op} {side(self.rhs)}"


FExpr = FRef | FOp
Lookups = tuple[tuple[str, Any], ...]


def kwargs_code(lookups: Lookups) -> str:
    return ", ".join(f"{k}={code_of(v)}" for k, v in lookups)


@dataclass(frozen=True)
class SubIn:
    """``OracleRow.objects.filter(**lookups).values_list("id", flat=True)`` as an ``in`` value."""

    lookups: Lookups

    def code(self) -> str:
        return f"OracleRow.objects.filter({kwargs_code(self.lookups)}).values_list('id', flat=True)"


@dataclass(frozen=True)
class Leaf:
    """``Q(**lookups)``; to-many lookups in one leaf must match the same related row."""

    lookups: Lookups

    def code(self) -> str:
        return f"Q({kwargs_code(self.lookups)})"


@dataclass(frozen=True)
class Not:
    child: Node

    def code(self) -> str:
        return f"~{self.child.code()}"


@dataclass(frozen=True)
class And:
    left: Node
    right: Node

    def code(self) -> str:
        return f"({self.left.code()} & {self.right.code()})"


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node

    def code(self) -> str:
        return f"({self.left.code()} | {self.right.code()})"


Node = Leaf | Not | And | Or


@dataclass(frozen=True)
class Step:
    """One ``filter(*args, **kwargs)`` or ``exclude(...)`` call."""

    negate: bool
    args: tuple[Node, ...] = ()
    kwargs: Lookups = ()

    def code(self) -> str:
        parts = [a.code() for a in self.args]
        if self.kwargs:
            parts.append(kwargs_code(self.kwargs))
        return f".{'exclude' if self.negate else 'filter'}({', '.join(parts)})"


@dataclass(frozen=True)
class Query:
    """A QuerySet chain: filters, ordering, distinct, result shape, slices."""

    steps: tuple[Step, ...] = ()
    order: tuple[str, ...] = ()
    order_f: bool = False  # spell the ordering with F(...).asc() / .desc()
    distinct: bool = False
    shape: str = "models"  # models | values | values_list | flat
    fields: tuple[str, ...] = ()
    related: str | None = None  # "parent" (select_related) | "children" (prefetch_related)
    slices: tuple[tuple[int | None, int | None], ...] = ()

    @property
    def total(self) -> bool:
        """Whether the ordering decides the order of every result (slices are reproducible)."""
        names = {o.lstrip("-") for o in self.order}
        if "id" in names:
            return True
        return (
            self.distinct
            and self.shape != "models"
            and bool(self.fields)
            and (set(self.fields) <= names)
        )

    def code(self) -> str:
        out = "OracleRow.objects" + "".join(s.code() for s in self.steps)
        if self.related == "parent":
            out += ".select_related('parent')"
        elif self.related == "children":
            out += ".prefetch_related('children')"
        if self.order:
            if self.order_f:
                terms = [
                    f"F({o.lstrip('-')!r}).{'desc' if o.startswith('-') else 'asc'}()"
                    for o in self.order
                ]
            else:
                terms = [repr(o) for o in self.order]
            out += f".order_by({', '.join(terms)})"
        if self.distinct:
            out += ".distinct()"
        names = ", ".join(repr(f) for f in self.fields)
        if self.shape == "values":
            out += f".values({names})"
        elif self.shape == "values_list":
            out += f".values_list({names})"
        elif self.shape == "flat":
            out += f".values_list({names}, flat=True)"
        for start, stop in self.slices:
            out += f"[{'' if start is None else start}:{'' if stop is None else stop}]"
        return out


@dataclass(frozen=True)
class AggSpec:
    """One aggregate: ``Func(field, distinct=..., filter=Q(...))``."""

    func: str  # Count | Sum | Avg | Min | Max
    field: str
    distinct: bool = False
    filter: Leaf | None = None

    def code(self) -> str:
        extra = ", distinct=True" if self.distinct else ""
        if self.filter is not None:
            extra += f", filter={self.filter.code()}"
        return f"{self.func}({self.field!r}{extra})"


@dataclass(frozen=True)
class Op:
    """A terminal call on a query: fetch, count, exists, first, last, index, get,
    aggregate, update or delete."""

    kind: str
    query: Query = field(default_factory=Query)
    arg: Any = None  # index for "index"; AggSpecs for "aggregate"; values for "update"
    label: str | None = field(default=None, compare=False)  # code() when set

    def code(self) -> str:
        if self.label is not None:
            return self.label
        q = self.query.code()
        if self.kind == "fetch":
            return f"await {q}"
        if self.kind == "index":
            return f"await {q}[{self.arg}]"
        if self.kind == "aggregate":
            aggs = ", ".join(f"a{n}={a.code()}" for n, a in enumerate(self.arg))
            return f"await {q}.aggregate({aggs})"
        if self.kind == "update":
            return f"await {q}.update({kwargs_code(self.arg)})"
        return f"await {q}.{self.kind}()"

    @property
    def writes(self) -> bool:
        return self.kind in ("update", "delete")


@dataclass(frozen=True)
class Direct:
    """Calls straight off the manager with plain equality kwargs (the cached-statement
    fast path), one per value set: same shape, different values."""

    action: str  # fetch | count | exists | get | first | update | delete
    value_sets: tuple[Lookups, ...]
    values: Lookups = ()  # for update

    def code(self) -> str:
        calls = []
        for kw in self.value_sets:
            args = kwargs_code(kw)
            if self.action == "get":
                calls.append(f"await OracleRow.objects.get({args})")
            elif self.action == "fetch":
                calls.append(f"await OracleRow.objects.filter({args})")
            elif self.action == "update":
                calls.append(
                    f"await OracleRow.objects.filter({args}).update({kwargs_code(self.values)})"
                )
            else:
                calls.append(f"await OracleRow.objects.filter({args}).{self.action}()")
        return "; ".join(calls)

    @property
    def writes(self) -> bool:
        return self.action in ("update", "delete")


@dataclass(frozen=True)
class Block:
    """Operations inside ``async with db.session():`` or ``db.transaction()``, optionally
    rolled back by raising at the end of the block."""

    kind: str  # session | transaction
    ops: tuple[Op | Direct, ...]
    rollback: bool = False

    def code(self) -> str:
        inner = "; ".join(op.code() for op in self.ops)
        tail = "; raise Rollback" if self.rollback else ""
        return f"async with db.{self.kind}(): {inner}{tail}"

    @property
    def writes(self) -> bool:
        return any(op.writes for op in self.ops)


Action = Op | Direct | Block
