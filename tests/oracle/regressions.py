"""Sequences the oracle found disagreeing with orm_kit, replayed first on every run.

Each is a minimal reproduction of one cause (see the report on issue 8); they run as
hypothesis explicit examples before the generated ones, so every run covers them whatever
the generator draws.
"""

from __future__ import annotations

from typing import Any

from tests.oracle.describe import Action, AggSpec, Direct, FOp, FRef, Leaf, Op, Query, Step

__all__ = ["REGRESSIONS"]


def _where(*lookups: tuple[str, Any], negate: bool = False) -> Query:
    return Query((Step(negate, (), tuple(lookups)),))


REGRESSIONS: dict[str, list[Action]] = {
    # The compiled-statement cache served contains' SQL for startswith / endswith.
    "text lookups share one cached statement": [
        Op("count", _where(("s__contains", "bc"))),
        Op("count", _where(("s__startswith", "bc"))),
        Op("count", _where(("s__endswith", "bc"))),
        Op("fetch", _where(("children__t__contains", "\\"))),
        Op("fetch", _where(("children__t__endswith", "x\\"))),
    ],
    # exclude() with an F() naming a nullable column dropped the rows where it is NULL.
    "exclude with a nullable F operand": [
        Op("count", _where(("i", FRef("ni")), negate=True)),
        Op("count", _where(("i__gt", FOp(FRef("ni"), "+", 1)), negate=True)),
    ],
    "exclude with None in an in list": [Op("count", _where(("ni__in", [None, 1]), negate=True))],
    "exclude iexact None": [Op("count", _where(("ns__iexact", None), negate=True))],
    "exclude on a missing JSON key": [Op("count", _where(("data__k", "50%"), negate=True))],
    "JSON key with a list value": [
        Op("count", _where(("data__n__in", [1, 3]))),
        Op("count", _where(("data__n__range", (1, 3)))),
    ],
    "JSON key isnull": [Op("count", _where(("data__k__isnull", True)))],
    "F() as a text lookup value": [
        Op("count", _where(("s__contains", FRef("ns")))),
        Op("count", _where(("s__icontains", FRef("ns")))),
    ],
    "manager fast path binds F()": [Direct("count", ((("i", FRef("ni")),),))],
    "exists on an empty slice": [
        Op("exists", Query(order=("id",), slices=((5, 5),))),
        Op("exists", Query(order=("id",), slices=((3, 1),))),
    ],
    "last of a slice": [Op("last", Query(order=("id",), slices=((None, 5),)))],
    "Avg with filter": [
        Op("aggregate", Query(), (AggSpec("Avg", "i", filter=Leaf((("b", True),))),)),
    ],
    "aggregate filter on a relation itself": [
        Op("aggregate", Query(), (AggSpec("Count", "id", filter=Leaf((("parent__in", [1, 2]),))),)),
        Op(
            "aggregate",
            Query(),
            (AggSpec("Count", "id", filter=Leaf((("parent__isnull", True),))),),
        ),
    ],
    "order comparisons on a bool column": [Op("count", _where(("b__gt", False)))],
    # Row 3 is 2024-12-31 23:59:59.999999 UTC, a Tuesday.
    "week_day just before midnight UTC": [Op("count", _where(("dt__week_day", 3)))],
}
