"""(g) Django's async ORM, a peer (optional: ``pip install django psycopg[binary]``).

Idiomatic Django 5 async code: ``acreate``, ``aget``, ``async for``, ``aupdate``,
``acount``, ``adelete``, ``abulk_create``. Django's async API runs the sync ORM in one
worker thread (``sync_to_async``); every query is in autocommit, on a persistent
connection (``CONN_MAX_AGE=None``). Django is configured in-process (no settings module):
one database alias per leg, the model unmanaged on the harness's ``bench_row``.
"""

from __future__ import annotations

from typing import Any

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from sqlalchemy.engine import make_url

from benchmarks.data import Plan
from benchmarks.schema import TABLE
from benchmarks.workloads import WorkloadFn, standard_workloads

__all__ = ["DjangoImpl"]

_MODEL: Any = None


def _model() -> Any:
    """The Django model of ``bench_row`` (Django configured and set up on first use)."""
    global _MODEL
    if _MODEL is None:
        if not settings.configured:
            settings.configure(
                DATABASES={},
                INSTALLED_APPS=[],
                USE_TZ=True,
                TIME_ZONE="UTC",
                DEFAULT_AUTO_FIELD="django.db.models.AutoField",
            )
            django.setup()
        from django.db import models

        class DjangoBenchRow(models.Model):
            id = models.AutoField(primary_key=True)
            created_at = models.DateTimeField()
            level = models.IntegerField(db_index=True)
            name = models.CharField(max_length=100)
            active = models.BooleanField()
            note = models.TextField(null=True)
            score = models.FloatField()
            counter = models.IntegerField()

            class Meta:
                app_label = "bench"
                db_table = TABLE
                managed = False

        _MODEL = DjangoBenchRow
    return _MODEL


def _database(url: str) -> tuple[str, dict[str, Any]]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return "bench_sqlite", {"ENGINE": "django.db.backends.sqlite3", "NAME": parsed.database}
    return "bench_postgresql", {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parsed.database,
        "USER": parsed.username or "",
        "PASSWORD": parsed.password or "",
        "HOST": parsed.host or "",
        "PORT": str(parsed.port or ""),
        "CONN_MAX_AGE": None,
    }


class DjangoImpl:
    """``Model.objects.using(alias)`` async calls, one per operation."""

    name = "django"
    title = "Django"

    def __init__(self) -> None:
        self.alias = ""

    async def open(self, url: str) -> None:
        from django.db import connections

        model = _model()
        alias, config = _database(url)
        # configure_settings fills in Django's per-database defaults (it wants a "default").
        connections.settings[alias] = connections.configure_settings({"default": config})["default"]
        self.alias = alias
        self.objects = model.objects.db_manager(self.alias)

    async def close(self) -> None:
        from django.db import connections

        def close_in_worker() -> None:  # the connection belongs to Django's worker thread
            connections[alias].close()

        alias = self.alias
        if alias:
            await sync_to_async(close_in_worker)()

    def workloads(self) -> dict[str, WorkloadFn]:
        return standard_workloads(self)

    async def load_objects(self, plan: Plan) -> list[Any]:
        """W5's query once, for the memory measurement."""
        return [o async for o in self.objects.filter(level__lt=plan.many_level_lt)]

    async def w1(self, plan: Plan) -> int:
        for row in plan.new_rows:
            await self.objects.acreate(**row)
        return len(plan.new_rows)

    async def w2(self, plan: Plan) -> int:
        model = _model()
        objs = await self.objects.abulk_create([model(**r) for r in plan.insert_rows])
        return len(objs)

    async def w3(self, plan: Plan) -> int:
        found = 0
        for pk in plan.get_ids:
            obj = await self.objects.aget(id=pk)
            found += obj.id == pk
        return found

    async def w4(self, plan: Plan) -> int:
        for level in plan.filter_levels:
            [o async for o in self.objects.filter(level=level)]
        return len(plan.filter_levels)

    async def w5(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.many_reps):
            rows += len([o async for o in self.objects.filter(level__lt=plan.many_level_lt)])
        return rows

    async def w6(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.values_reps):
            rows += len([d async for d in self.objects.values()])
        return rows

    async def w7(self, plan: Plan) -> int:
        done = 0
        for i, pk in enumerate(plan.update_ids):
            done += await self.objects.filter(id=pk).aupdate(counter=i)
        return done

    async def w8(self, plan: Plan) -> int:
        done = 0
        for rep in range(plan.bulk_reps):
            done += await self.objects.filter(level__lt=plan.bulk_level_lt).aupdate(counter=rep)
        return done

    async def w9(self, plan: Plan) -> int:
        total = 0
        for level in plan.count_levels:
            total += await self.objects.filter(level=level).acount() >= 0
        return total

    async def w10(self, plan: Plan) -> int:
        done = 0
        for pk in plan.delete_ids:
            deleted, _ = await self.objects.filter(id=pk).adelete()
            done += deleted
        return done
