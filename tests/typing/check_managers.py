"""Static typing checks for managers and custom QuerySets (mypy --strict); never executed."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, ClassVar, Self, assert_type

from sqlalchemy import String
from sqlalchemy.engine import Row
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Manager, Model, QuerySet
from orm_kit.mixins import SoftDeleteMixin
from orm_kit.mixins.soft_delete import AllObjectsManager
from orm_kit.query.queryset import ModelT


class StoryQuerySet(QuerySet["Story"]):
    """A QuerySet for one model; its methods name their class (see the managers guide)."""

    def published(self) -> StoryQuerySet:
        return self.filter(status="published")

    def popular(self, min_views: int = 100) -> StoryQuerySet:
        return self.filter(views__gte=min_views)


class TitledQuerySet(QuerySet[ModelT]):
    """A QuerySet for any model; ``Self`` keeps subclasses precise."""

    def titled(self, title: str) -> Self:
        return self.filter(title=title)


class StoryManager(Manager["Story", StoryQuerySet], StoryQuerySet):
    """What ``Manager.from_queryset(StoryQuerySet)`` makes, spelled so mypy sees it."""


class LiveStoryManager(StoryManager):
    def get_queryset(self) -> StoryQuerySet:
        return super().get_queryset().published()


class ActiveManager(Manager[ModelT]):
    """A hand-written manager: only ``get_queryset()`` changes."""

    def get_queryset(self) -> QuerySet[ModelT]:
        return super().get_queryset().filter(status="published")


class Story(Model, SoftDeleteMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    views: Mapped[int] = mapped_column(default=0)

    objects: ClassVar[StoryManager] = StoryManager()
    live: ClassVar[LiveStoryManager] = LiveStoryManager()
    active: ClassVar[ActiveManager[Self]] = ActiveManager()
    from_qs = Manager.from_queryset(StoryQuerySet)()
    as_mgr = StoryQuerySet.as_manager()
    titled: ClassVar[Manager[Self, TitledQuerySet[Self]]] = TitledQuerySet.as_manager()


class Note(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))


def check_declared_manager_types() -> None:
    # The default manager binds the model; a declared manager keeps its own class.
    assert_type(Note.objects, Manager[Note])
    assert_type(Note.objects, Manager[Note, QuerySet[Note, Note]])
    assert_type(Story.objects, StoryManager)
    assert_type(Story.live, LiveStoryManager)
    assert_type(Story.active, ActiveManager[Story])
    assert_type(Story.all_objects, AllObjectsManager[Story])
    assert_type(Story.from_qs, Manager[Story, StoryQuerySet])
    assert_type(Story.as_mgr, Manager[Story, StoryQuerySet])
    assert_type(Story.titled, Manager[Story, TitledQuerySet[Story]])


def check_generated_manager_classes() -> None:
    assert_type(Manager.from_queryset(StoryQuerySet), type[Manager[Story, StoryQuerySet]])
    assert_type(StoryQuerySet.as_manager(), Manager[Story, StoryQuerySet])
    assert_type(Manager.from_queryset(StoryQuerySet)().filter(), StoryQuerySet)
    # A QuerySet class generic over the model says which model when parametrized.
    assert_type(
        Manager.from_queryset(TitledQuerySet[Note]), type[Manager[Note, TitledQuerySet[Note]]]
    )
    assert_type(TitledQuerySet[Note].as_manager(), Manager[Note, TitledQuerySet[Note]])
    assert_type(AllObjectsManager.from_queryset(StoryQuerySet), type[Manager[Story, StoryQuerySet]])


async def check_custom_methods_survive_chaining() -> None:
    # Chaining off a manager gives its get_queryset() type, never the manager.
    assert_type(Story.objects.filter(views=1), StoryQuerySet)
    assert_type(Story.objects.all(), StoryQuerySet)
    assert_type(Story.objects.published(), StoryQuerySet)
    assert_type(Story.objects.published().filter(views=1).published(), StoryQuerySet)
    assert_type(
        Story.objects.exclude(title="x").order_by("-views").distinct().only("title").popular(),
        StoryQuerySet,
    )
    assert_type(Story.objects.defer("title").annotate().using("default"), StoryQuerySet)
    assert_type(Story.objects.select_related().prefetch_related().published(), StoryQuerySet)
    assert_type(Story.objects.with_deleted().only_deleted().none().popular(), StoryQuerySet)
    assert_type(Story.objects.select_for_update(nowait=True).published(), StoryQuerySet)
    assert_type(Story.objects.clone_with(limit=5).published(), StoryQuerySet)
    assert_type(Story.objects[2:5], StoryQuerySet)
    assert_type(Story.objects.published()[:3], StoryQuerySet)
    assert_type(Story.objects[0], Awaitable[Story])
    assert_type(Story.live.filter(views=2).popular(), StoryQuerySet)
    # from_queryset() / as_manager(): the QuerySet type after chaining.
    assert_type(Story.from_qs.filter(views=1).published(), StoryQuerySet)
    assert_type(Story.as_mgr.order_by("title")[:10].popular(), StoryQuerySet)
    assert_type(Story.titled.filter(views=1).titled("x").titled("y"), TitledQuerySet[Story])
    assert_type(Story.titled.all()[1:2].titled("x"), TitledQuerySet[Story])
    # A plain or hand-written manager chains to a plain QuerySet.
    assert_type(Note.objects.filter(title="x").order_by("-id")[:10], QuerySet[Note])
    assert_type(Story.active.filter(views=1), QuerySet[Story])
    assert_type(Story.all_objects.only_deleted(), QuerySet[Story])


async def check_terminal_types() -> None:
    assert_type(await Story.objects.published(), list[Story])
    assert_type(await Story.objects.published().get(id=1), Story)
    assert_type(await Story.objects.popular().first(), Story | None)
    assert_type(await Story.objects.get(id=1), Story)
    assert_type(await Story.objects.count(), int)
    assert_type(await Story.live.create(title="x", status="draft"), Story)
    assert_type(await Story.titled.all().titled("x"), list[Story])
    async for story in Story.objects.published():
        assert_type(story, Story)


async def check_row_shapes_drop_custom_methods() -> None:
    # As in Django, values() / values_list() leave the custom QuerySet behind.
    values = Story.objects.published().values("title")
    assert_type(values, QuerySet[Story, dict[str, Any]])
    assert_type(values.filter(views=1), QuerySet[Story, dict[str, Any]])
    assert_type(await values, list[dict[str, Any]])
    flat = Story.objects.popular().values_list("title", flat=True)
    assert_type(flat, QuerySet[Story, Any])
    named = Story.objects.values_list("title", named=True)
    assert_type(named, QuerySet[Story, Row[Any]])
    assert_type(await named.order_by("title"), list[Row[Any]])
    rows = Story.objects.values_list("title", "views")
    assert_type(await rows, list[tuple[Any, ...]])
