"""The write operations of the hostile-input fuzz test: create, ``Model(**payload).save()``,
``obj.update(**payload).save()``, update, bulk_create, bulk_update, get_or_create and
update_or_create, each with the rows and values a success must leave behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from orm_kit import F, Q
from orm_kit.exceptions import MultipleObjectsReturned
from orm_kit.query.expressions import Aggregate
from tests.integration import hostile_oracle as oracle
from tests.integration.hostile_cases import ANY, Context, Op, Written, kwargs_repr
from tests.integration.hostile_inputs import (
    HOSTILE_NAMES,
    LOOKUP_PAIR,
    NON_STR_NAMES,
    PAYLOAD,
    UPDATE_PAYLOAD,
    VALID,
    WRITE_PAIR,
    one_owner_spelling,
    value_for,
)
from tests.integration.hostile_models import HostileItem
from tests.integration.hostile_oracle import ITEM_KINDS, Verdict

# --- writes ----------------------------------------------------------------------------------


def _expected(payload: dict[str, Any]) -> dict[str, Any]:
    """The column values ``payload`` writes (the relation becomes its key)."""
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if key in ("id", "pk") and value is None:
            continue  # "not set", as in Django: the database numbers the row
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
            return f"await HostileItem.objects.create({kwargs_repr(self.payload)})"
        return f"await HostileItem({kwargs_repr(self.payload)}).save()"

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
        objs = ", ".join(f"HostileItem({kwargs_repr(p)})" for p in self.payloads)
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
        if self.target == "none" and parts[0].why == "foreign key to a missing row":
            # A value only the database refuses (a missing foreign key) on zero rows: the
            # database never sees it, so success is right too.
            parts = [oracle.EITHER]
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
        target = _TARGETS[self.target][0]
        return f"await HostileItem.objects.{target}.update({kwargs_repr(self.payload)})"

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
            "obj = await HostileItem.objects.get(id=1002); "
            f"obj.update({kwargs_repr(self.payload)}); await obj.save()"
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
    .map(one_owner_spelling)
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
            f"{kwargs_repr(self.lookups)})"
        )

    def written(self, result: Any) -> Written:
        obj, created = result
        pk = obj.__dict__.get("id")
        if created:
            return Written({pk: _expected(self.create_values())}, {pk})
        if self.method == "update_or_create":
            return Written({pk: _expected(self.defaults)})
        return Written()


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
