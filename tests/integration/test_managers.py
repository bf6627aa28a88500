"""Managers made from a custom QuerySet: ``Manager.from_queryset``, ``QuerySet.as_manager``
and a class statement with both bases; custom methods survive chaining; ``get_queryset()``
overrides apply everywhere; the plain and the soft-delete managers are unchanged."""

from __future__ import annotations

from typing import ClassVar, Self

import pytest
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Manager, Model, QuerySet
from orm_kit.mixins import SoftDeleteMixin
from orm_kit.mixins.soft_delete import AllObjectsManager
from orm_kit.query.queryset import ModelT
from tests.models import User


@pytest.fixture
def db(rolled_back_db: Database) -> Database:
    """Isolation by rollback (orm_kit.testing's orm_session) instead of emptying tables."""
    return rolled_back_db


class Counting:
    """A plain mixin of the QuerySet: its methods are forwarded too."""

    async def titles_count(self: QuerySet[Essay]) -> int:
        return len(await self.values_list("title", flat=True))


class EssayQuerySet(Counting, QuerySet["Essay"]):
    def published(self) -> EssayQuerySet:
        return self.filter(status="published")

    def popular(self, min_views: int = 100) -> EssayQuerySet:
        return self.filter(views__gte=min_views)

    async def total_views(self) -> int:
        return sum(await self.values_list("views", flat=True))

    def _titles(self) -> QuerySet[Essay, str]:
        return self.order_by("title").values_list("title", flat=True)

    def titles(self) -> QuerySet[Essay, str]:
        return self._titles()


class EssayManager(Manager["Essay", EssayQuerySet], EssayQuerySet):
    """The class statement spelling of Manager.from_queryset(EssayQuerySet)."""


class PublishedEssays(Manager.from_queryset(EssayQuerySet)):
    def get_queryset(self) -> EssayQuerySet:
        return super().get_queryset().published()


class Essay(Model, SoftDeleteMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    views: Mapped[int] = mapped_column(default=0)

    objects = EssayQuerySet.as_manager()
    generated = Manager.from_queryset(EssayQuerySet)()
    declared: ClassVar[EssayManager] = EssayManager()
    published_only: ClassVar[PublishedEssays] = PublishedEssays()


@pytest.fixture
async def essays(db: Database) -> Database:
    await Essay.objects.create_many(
        [
            {"title": "Alpha", "status": "published", "views": 250},
            {"title": "Beta", "status": "draft", "views": 300},
            {"title": "Gamma", "status": "published", "views": 40},
            {"title": "Delta", "status": "published", "views": 120},
        ]
    )
    return db


MANAGERS = ["objects", "generated", "declared"]


def test_from_queryset_names_and_caches_one_class_per_queryset_class() -> None:
    made = Manager.from_queryset(EssayQuerySet)
    assert made.__name__ == "ManagerFromEssayQuerySet"
    assert Manager.from_queryset(EssayQuerySet) is made
    assert type(EssayQuerySet.as_manager()) is made
    assert type(Essay.objects) is made and type(Essay.generated) is made
    assert issubclass(made, Manager) and issubclass(made, EssayQuerySet)
    assert made.queryset_class is EssayQuerySet and EssayManager.queryset_class is EssayQuerySet
    assert Manager.from_queryset(EssayQuerySet, "Essays").__name__ == "Essays"
    other = AllObjectsManager.from_queryset(EssayQuerySet)
    assert other.__name__ == "AllObjectsManagerFromEssayQuerySet" and other is not made
    # Public methods run on get_queryset(); private ones are not forwarded.
    assert "published" in vars(made) and "total_views" in vars(made)
    assert "_titles" not in vars(made)
    with pytest.raises(TypeError, match="QuerySet subclass"):
        Manager.from_queryset(Essay)
    with pytest.raises(TypeError, match="not the manager"):
        Manager.from_queryset(EssayManager)


def test_a_method_the_manager_side_defines_is_kept() -> None:
    class Loud:
        def published(self) -> str:
            return "the manager's own"

    class Own(Loud, Manager["Essay", EssayQuerySet]):
        def popular(self, min_views: int = 100) -> EssayQuerySet:
            return self.get_queryset().published()

    made = Own.from_queryset(EssayQuerySet)
    assert made.popular is Own.popular and made.published is Loud.published
    assert made.total_views is not EssayQuerySet.total_views  # forwarded
    assert made.titles_count is not Counting.titles_count  # a QuerySet mixin's, forwarded


def test_from_queryset_takes_a_parametrized_queryset_class() -> None:
    class TitledQuerySet(QuerySet[ModelT]):
        def titled(self, title: str) -> Self:
            return self.filter(title=title)

    made = Manager.from_queryset(TitledQuerySet[Essay])
    assert made is Manager.from_queryset(TitledQuerySet)
    assert made.queryset_class is TitledQuerySet
    assert type(TitledQuerySet[Essay].as_manager()) is made


def test_generated_managers_stay_on_the_class() -> None:
    essay = Essay(title="x")
    with pytest.raises(AttributeError, match="isn't accessible via Essay instances"):
        essay.generated  # noqa: B018
    assert repr(Essay.declared) == "<EssayManager Essay.declared>"


@pytest.mark.parametrize("name", MANAGERS)
async def test_custom_methods_survive_chaining(essays: Database, name: str) -> None:
    manager = getattr(Essay, name)
    assert await manager.count() == 4
    assert await manager.published().count() == 3
    assert await manager.popular().count() == 3
    assert await manager.published().popular().count() == 2
    assert await manager.published().filter(title="Alpha").popular().count() == 1
    assert await manager.filter(views__lt=200).published().count() == 2
    ordered = manager.exclude(title="Gamma").order_by("-views").distinct().published()
    assert [e.title for e in await ordered] == ["Alpha", "Delta"]
    window = manager.published().order_by("views")[:2]
    assert [e.title for e in await window] == ["Gamma", "Delta"]
    assert await manager.total_views() == 710
    assert await manager.titles_count() == 4 and await manager.popular().titles_count() == 3
    assert await manager.published().total_views() == 410
    assert await manager.titles() == ["Alpha", "Beta", "Delta", "Gamma"]
    assert await manager.popular().titles() == ["Alpha", "Beta", "Delta"]
    # Chaining off a manager gives its QuerySet class, never the manager.
    for qs in (
        manager.all(),
        manager.filter(views=1),
        manager.published(),
        manager.only("title").defer("views").select_related().prefetch_related(),
        manager.annotate().with_deleted().only_deleted().none(),
        manager.clone_with(limit=2),
        manager[1:3],
        manager.popular()[:1],
    ):
        assert type(qs) is EssayQuerySet
    # values() / values_list() after custom methods: rows are dicts and scalars.
    assert await manager.published().order_by("title").values_list("title", flat=True) == [
        "Alpha",
        "Delta",
        "Gamma",
    ]
    assert await manager.popular().order_by("views").values("title") == [
        {"title": "Delta"},
        {"title": "Alpha"},
        {"title": "Beta"},
    ]


async def test_a_get_queryset_override_applies_to_every_method(essays: Database) -> None:
    live = Essay.published_only
    assert type(live).__mro__[1] is Manager.from_queryset(EssayQuerySet)
    assert await live.count() == 3
    assert await live.popular().count() == 2
    assert await live.filter(views__lt=100).count() == 1
    assert await live.total_views() == 410
    assert await live.titles() == ["Alpha", "Delta", "Gamma"]
    assert (await live.order_by("-views").get_first_or_raise()).title == "Alpha"
    assert [e.title for e in await live.order_by("title")[1:]] == ["Delta", "Gamma"]
    assert await live.filter(title="Beta").exists() is False
    assert await live.update(views=0) == 3
    assert (await Essay.objects.get(title="Beta")).views == 300  # a draft: not updated


async def test_soft_delete_managers_with_a_custom_queryset(essays: Database) -> None:
    assert await Essay.objects.filter(title="Delta").delete() == 1
    assert await Essay.objects.count() == 3
    assert await Essay.objects.published().count() == 2
    assert await Essay.declared.published().count() == 2
    assert await Essay.all_objects.count() == 4
    assert await Essay.all_objects.filter(status="published").count() == 3
    assert type(Essay.all_objects.filter()) is QuerySet
    assert await Essay.objects.with_deleted().published().count() == 3
    assert await Essay.objects.only_deleted().published().count() == 1
    assert await Essay.objects.only_deleted().restore() == 1
    assert await Essay.published_only.count() == 3


async def test_plain_and_hand_written_managers_are_unchanged(db: Database) -> None:
    await User.objects.create_many(
        [{"email": f"u{i}@x.io", "is_active": i != 0, "score": i} for i in range(3)]
    )
    assert type(User.objects.filter()) is QuerySet
    assert type(User.objects[0:1]) is QuerySet
    assert await User.objects.count() == 3
    assert await User.active.count() == 2  # ActiveManager.get_queryset(): is_active=True
    assert await User.active.filter(score__gte=1).order_by("-score").values_list(
        "score", flat=True
    ) == [2, 1]
    assert (await User.active.get(score=2)).email == "u2@x.io"
