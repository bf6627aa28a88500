"""The oracle's rows, and the pools of values queries draw from.

The rows are designed to tell cases apart: a row ``contains`` matches but ``startswith``
does not, strings that differ only in ASCII case, literal ``%`` ``_`` ``\\`` rows, NULLs in
every nullable column, datetimes at UTC day and hour boundaries entered in other offsets,
rows with no, one and several children. Seeded extra rows are drawn from the same pools.

Non-ASCII letters appear in one case only (``é ß ñ ü 中``), so Python's ``str.lower()`` and
every backend's ``lower()`` agree.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

__all__ = [
    "Dataset",
    "ascii_lower",
    "ascii_swapcase",
    "ascii_upper",
    "build_dataset",
]


def ascii_upper(text: str) -> str:
    """Upper-case the ASCII letters only."""
    return "".join(c.upper() if "a" <= c <= "z" else c for c in text)


def ascii_lower(text: str) -> str:
    """Lower-case the ASCII letters only."""
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in text)


def ascii_swapcase(text: str) -> str:
    """Swap the case of the ASCII letters only."""
    return "".join(c.swapcase() if c.isascii() and c.isalpha() else c for c in text)


def _tz(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


# --- the designed rows ----------------------------------------------------------------

PARENTS: tuple[dict[str, Any], ...] = (
    {"id": 1, "name": "alpha", "rank": 1},
    {"id": 2, "name": "Alpha", "rank": None},
    {"id": 3, "name": "beta", "rank": 3},
    {"id": 4, "name": "al%pha", "rank": 2},
    {"id": 5, "name": "b_eta", "rank": None},
    {"id": 6, "name": "gamma", "rank": 5},  # no rows point at it
    {"id": 7, "name": "", "rank": 0},
)


def _at(offset: float, *parts: int) -> datetime:
    """A datetime entered at UTC offset ``offset`` (hours): ``_at(-5, 2024, 1, 2, 3, 4)``."""
    year, month, day, hour, minute, second, micro = (*parts, 0, 0, 0, 0)[:7]
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=_tz(offset))


# (i, ni, s, ns, b, f, dt, data, parent_id)
# fmt: off
_DESIGNED: tuple[tuple[Any, ...], ...] = (
    (1, 1, "abc", "abc", True, 0.0, _at(5.5, 2024, 3, 1, 5, 0), {}, 1),
    (2, None, "ABC", None, False, 0.5, _at(-8, 2024, 2, 29, 16, 0), {"k": "abc"}, 2),
    (3, 2, "Abc", "ab", True, -1.25, _at(14, 2025, 1, 1, 13, 59, 59, 999999), {"n": 3}, None),
    (4, 5, "xabc", "abc", False, 2.0, _at(-12, 2024, 12, 31, 12, 0), {"k": "ABC", "n": -1}, 3),
    (5, None, "xxabcxx", "", True, 1e10, _at(1, 2025, 6, 15, 13, 0), {"k": "", "n": 0}, 4),
    (6, 4, "abczz", "zz", False, 0.25, _at(1, 2025, 6, 15, 0, 0), {"k": "x%y"}, 5),
    (7, 7, "zzabc", "c", True, 100.0, _at(0, 2025, 3, 9, 10, 59, 59), {"n": 7}, None),
    (8, -3, "50% off", "%", False, -3.5, _at(0, 2025, 3, 9, 11, 0, 0), {"k": "50%"}, 1),
    (9, None, "100%", None, True, 0.0, _at(-5, 2025, 3, 9, 6, 0, 0), {"n": "3", "k": 3}, 1),
    (10, 10, "%", "%", False, 0.5, _at(0, 2023, 1, 1, 0, 0), {"n": 10}, 2),
    (0, 0, "_", "_", True, 2.0, _at(-5, 2022, 12, 31, 19, 0), {"k": "_"}, 3),
    (-5, None, "a_c", "_c", False, 0.5, _at(0, 2024, 7, 4, 23, 59, 59), {"k": "a_c", "n": 2}, None),
    (12, 11, "abc_def", "c_d", True, 0.25, _at(0, 2024, 7, 5, 0, 0, 1), {"n": 1.5}, 4),
    (13, None, "a%c", "a%", False, 1e10, _at(9.5, 2024, 7, 5, 9, 30), {"n": -5}, None),
    (14, 14, "a\\c", "\\", True, 0.0, _at(-4, 2024, 11, 3, 1, 30), {"k": "\\"}, 5),
    (15, 20, "back\\slash\\", "sh\\", False, 100.0, _at(-5, 2024, 11, 3, 1, 30), {"k": "b"}, 1),
    (16, None, "it's", "'", True, -3.5, _at(0, 2020, 2, 29, 12, 0), {"k": "it's", "n": 1}, 2),
    (17, 16, 'say "hi"', '"hi"', False, 0.5, _at(0, 2021, 8, 1, 0, 0), {"n": True, "k": False}, 3),
    (18, 18, "", "", True, 2.0, _at(2, 2021, 8, 1, 0, 0), {"k": "", "n": 18}, None),
    (19, None, " ", None, False, 0.25, _at(0, 2021, 7, 31, 22, 0), {"k": "1", "n": 2.0}, 4),
    (20, 21, "café", "é", True, 1e10, _at(0, 2024, 3, 1, 0, 0), {"k": "café"}, 5),
    (1, 1, "CAFé", "CAF", False, -1.25, _at(0, 2024, 2, 29, 23, 30), {"n": 1}, 1),
    (2, 3, "straße", "ß", True, 0.0, _at(3, 2023, 5, 20, 8, 15), {"k": "ß"}, None),
    (3, None, "中文abc", "中文", False, 0.5, _at(-3, 2023, 5, 20, 23, 45), {}, 2),
    (4, -4, "🙂 smile", "🙂", True, 100.0, _at(0, 2026, 1, 4, 0, 0), {"k": "🙂"}, 3),
    (5, 5, "Hello World", "hello world", False, -3.5, _at(0, 2026, 1, 3, 23, 59), {"n": 5}, 7),
    (6, None, "hello world", "WORLD", True, 2.0, _at(-9.5, 2026, 1, 10, 12, 30), {}, None),
    (7, 8, "HELLO", "hel", False, 0.25, _at(9.5, 2026, 1, 10, 12, 30), {"k": "HELLO"}, 1),
    (-1, -1, "help", "lp", True, 1e10, _at(-1, 2019, 12, 31, 23, 0), {"k": "help", "n": 0}, 4),
    (9, 9, "x.y.z", ".", False, 0.0, _at(0, 2019, 6, 30, 0, 0), {}, 5),
    (10, None, "a+b", "+", True, -1.25, _at(0, 2019, 6, 29, 23, 59, 59), {"n": 4}, None),
    (11, 12, "[ab]", "[", False, 0.5, _at(0, 2018, 1, 1, 0, 0), {"k": "[ab]"}, 2),
    (12, 12, "^start", "^", True, 2.0, _at(1, 2018, 1, 1, 0, 0), {}, 3),
    (13, None, "end$", "$", False, 100.0, _at(0, 2027, 12, 31, 23, 59, 59), {"k": "end$"}, None),
    (14, 2, "ñandú über", "über", True, 0.25, _at(0, 2027, 1, 1, 0, 0), {"n": 14}, 1),
)
# fmt: on

STRINGS: tuple[str, ...] = tuple(sorted({row[2] for row in _DESIGNED} | {"xyz", "XYZ", "hello"}))
"""Values of ``s`` (the seeded rows draw from these too)."""

CHILD_TEXTS: tuple[str, ...] = ("a", "A", "ab", "b%", "_x", "", "中", "zz", "Zz", "x\\y")


# --- pools for the queries --------------------------------------------------------------


def _pieces(text: str) -> set[str]:
    out = {text}
    for n in (1, 2, 3):
        out |= {text[:n], text[-n:], text[n : n + 2]}
    return out


def text_pool(strings: tuple[str, ...], extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Pieces of ``strings`` (prefixes, suffixes, middles) in their ASCII case variants."""
    found: set[str] = set(extra)
    for text in strings:
        for piece in _pieces(text):
            found |= {piece, ascii_upper(piece), ascii_swapcase(piece)}
    return tuple(sorted(p for p in found if len(p) <= 40))


_SPECIALS: tuple[str, ...] = (
    "%",
    "_",
    "\\",
    "'",
    '"',
    "a%",
    "%c",
    "a_",
    "_c",
    "%%",
    "ab",
    "bc",
    "zz",
    "nope",
)
_SPECIALS += ("ABC", "aBc", "abcd", "xx", "é", "ß", "🙂", "中文", "WORLD", "World", "hElLo")
TEXTS: tuple[str, ...] = text_pool(
    (*STRINGS, *(str(r[3]) for r in _DESIGNED if r[3] is not None)), _SPECIALS
)
"""Strings for text lookups: pieces of the data, their ASCII case variants, specials."""

REGEXES: tuple[str, ...] = (
    "",
    "abc",
    "^abc",
    "abc$",
    "^a.c$",
    "a.c",
    "[ab]c",
    "^[ab]",
    "x+",
    "xa*b",
    "l+o",
    "^$",
    ".",
    "^.$",
    "%",
    "_",
    "'",
    "é",
    "中",
    "hello",
    "^h",
    "D$",
    "c_d",
    "a.*c",
    "[xz]+a",
    "o w",
)
"""Patterns that mean the same in Python ``re`` and PostgreSQL POSIX regular expressions
(case variants are drawn on top of these)."""

INTS: tuple[int, ...] = (*range(-6, 23), -2147483648, 2147483647, 100)
FLOATS: tuple[float, ...] = (0.0, 0.5, -1.25, 2.0, 1e10, -3.5, 0.25, 100.0, 1.0, -1.0, 0.75)
ROW_FLOATS: tuple[float, ...] = (0.0, 0.5, -1.25, 2.0, 1e10, -3.5, 0.25, 100.0)
OFFSETS: tuple[float, ...] = (0, 5.5, -8, 14, -12, 1, -5, 9.5, -9.5, 3)
DELTAS: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(microseconds=1),
    timedelta(microseconds=-1),
    timedelta(seconds=1),
    timedelta(hours=-1),
    timedelta(days=1),
)
ROW_DATETIMES: tuple[datetime, ...] = tuple(row[6] for row in _DESIGNED)
DATES: tuple[date, ...] = tuple(
    sorted(
        {d.astimezone(UTC).date() for d in ROW_DATETIMES}
        | {d.date() for d in ROW_DATETIMES}
        | {d.astimezone(UTC).date() + timedelta(days=1) for d in ROW_DATETIMES[:8]}
    )
)
JSON_TEXTS: tuple[str, ...] = ("abc", "ABC", "", "x%y", "50%", "_", "a_c", "\\", "b", "ß", "a", "%")


def at_offset(moment: datetime, hours: float) -> datetime:
    """The same instant as ``moment``, expressed at UTC offset ``hours``."""
    return moment.astimezone(_tz(hours))


# --- the dataset ------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """Parents, rows and children, as plain dicts keyed by column name."""

    parents: tuple[dict[str, Any], ...]
    rows: tuple[dict[str, Any], ...]
    children: tuple[dict[str, Any], ...]


_ROW_KEYS = ("i", "ni", "s", "ns", "b", "f", "dt", "data", "parent_id")


def _seeded_row(rnd: random.Random) -> tuple[Any, ...]:
    s = rnd.choice(STRINGS)
    ns = rnd.choice([None, None, s, s[:2], s[-1:], ascii_upper(s), rnd.choice(TEXTS)])
    i = rnd.randint(-5, 20)
    ni = rnd.choice([None, i, i + 1, i - 1, rnd.randint(-5, 20)])
    data: dict[str, Any] = {}
    if rnd.random() < 0.6:
        data["k"] = rnd.choice(JSON_TEXTS)
    if rnd.random() < 0.6:
        data["n"] = rnd.randint(-5, 20)
        if rnd.random() < 0.15:  # another JSON kind under the key: a string, a float, a bool
            data["n"] = rnd.choice([str(data["n"]), data["n"] + 0.5, data["n"] % 2 == 0])
    moment = rnd.choice(ROW_DATETIMES) + rnd.choice(DELTAS)
    dt = at_offset(moment, rnd.choice(OFFSETS))
    parent = rnd.choice([None, 1, 2, 3, 4, 5, 7])
    return (i, ni, s, ns, rnd.random() < 0.5, rnd.choice(ROW_FLOATS), dt, data, parent)


def build_dataset(seed: int, extra_rows: int = 30) -> Dataset:
    """The designed rows plus ``extra_rows`` drawn with ``seed``; children for each row."""
    rnd = random.Random(seed)
    raw = list(_DESIGNED) + [_seeded_row(rnd) for _ in range(extra_rows)]
    rows = tuple({"id": n, **dict(zip(_ROW_KEYS, r, strict=True))} for n, r in enumerate(raw, 1))
    children: list[dict[str, Any]] = []
    for row in rows:
        # The first rows get 0, 1, 2, 3 children in turn; the others a random number.
        count = (row["id"] - 1) % 4 if row["id"] <= len(_DESIGNED) else rnd.choice([0, 0, 1, 2, 4])
        for _ in range(count):
            children.append(
                {
                    "id": len(children) + 1,
                    "row_id": row["id"],
                    "v": rnd.randint(-3, 10),
                    "t": rnd.choice(CHILD_TEXTS),
                }
            )
    return Dataset(tuple(dict(p) for p in PARENTS), rows, tuple(children))


COLUMN_TEXTS: dict[str, tuple[str, ...]] = {
    "s": TEXTS,
    "ns": TEXTS,
    "parent__name": text_pool(tuple(p["name"] for p in PARENTS), ("%", "_", "x")),
    "children__t": text_pool(CHILD_TEXTS, ("%", "_", "\\", "x")),
    "data__k": text_pool(JSON_TEXTS, ("%", "_", "x")),
}
"""Strings for text lookups on each text field: pieces of its own values."""
