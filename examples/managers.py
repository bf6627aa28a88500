"""Managers: the default ``objects``, custom managers, and custom QuerySet methods."""

import asyncio
from typing import ClassVar

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Manager, Model, QuerySet


# --8<-- [start:queryset]
class ArticleQuerySet(QuerySet["Article"]):
    """Chainable, reusable filters: they work after any other QuerySet method."""

    def published(self) -> "ArticleQuerySet":
        return self.filter(status="published")

    def popular(self, min_views: int = 100) -> "ArticleQuerySet":
        return self.filter(views__gte=min_views)


# --8<-- [end:queryset]


# --8<-- [start:manager_class]
class FeaturedManager(Manager["Article", ArticleQuerySet], ArticleQuerySet):
    """A manager with ArticleQuerySet's methods, like Manager.from_queryset(ArticleQuerySet),
    as a class statement; its get_queryset() applies to every method, those included."""

    def get_queryset(self) -> ArticleQuerySet:
        return super().get_queryset().popular(min_views=200)


# --8<-- [end:manager_class]


# --8<-- [start:get_queryset]
class PublishedManager(Manager["Article"]):
    """A manager whose every query starts from the published articles."""

    def get_queryset(self) -> QuerySet["Article"]:
        return super().get_queryset().filter(status="published")


# --8<-- [end:get_queryset]


# --8<-- [start:model]
class Article(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    views: Mapped[int] = mapped_column(default=0)

    objects = ArticleQuerySet.as_manager()  # replaces the default manager (Django's spelling)
    live: ClassVar[PublishedManager] = PublishedManager()  # a second manager
    featured: ClassVar[FeaturedManager] = FeaturedManager()  # a third


# --8<-- [end:model]


async def main() -> None:
    async with Database() as db:
        await db.reset()
        await Article.objects.create_many(
            [
                {"title": "Hello", "status": "published", "views": 250},
                {"title": "Draft ideas", "status": "draft", "views": 0},
                {"title": "Deep dive", "status": "published", "views": 40},
                {"title": "Old news", "status": "archived", "views": 900},
            ]
        )

        # --8<-- [start:use]
        print(f"objects.count():          {await Article.objects.count()}")
        print(f"live.count():             {await Article.live.count()}")
        live_titles = await Article.live.order_by("title").values_list("title", flat=True)
        print(f"live, ordered:            {live_titles}")
        print(f"live.get(title=...):      {(await Article.live.get(title='Hello')).views} views")
        # Managers chain like QuerySets; their filter is always applied first.
        print(f"live.filter(views<100):   {await Article.live.filter(views__lt=100).count()}")
        # --8<-- [end:use]

        # --8<-- [start:use_queryset]
        print(f"objects.published():      {await Article.objects.published().count()}")
        print(f"objects.popular():        {await Article.objects.popular().count()}")
        both = Article.objects.published().popular(min_views=200)
        print(f"published().popular(200): {[a.title for a in await both]}")
        chained = Article.objects.filter(title__istartswith="d").published()
        print(f"filter(...).published():  {[a.title for a in await chained]}")
        top = Article.objects.popular().order_by("-views")[:1]
        print(f"popular()...[:1]:         {[a.title for a in await top]}")
        print(f"featured.published():     {[a.title for a in await Article.featured.published()]}")
        print(f"manager class:            {type(Article.objects).__name__}")
        same = type(Article.objects) is Manager.from_queryset(ArticleQuerySet)
        print(f"from_queryset() is it:    {same}")
        print(f"after filter():           {type(Article.objects.filter(views=0)).__name__}")
        titles = Article.objects.published().order_by("title").values_list("title", flat=True)
        print(f"values_list(flat=True):   {await titles}")
        # --8<-- [end:use_queryset]

        # --8<-- [start:repository_methods]
        first = await Article.objects.get_by(status="published")  # first match by pk, or None
        print(f"get_by:                   {first.title if first else None}")
        page = await Article.objects.get_all(skip=1, limit=2)  # primary-key order
        print(f"get_all(skip=1, limit=2): {[a.title for a in page]}")
        reset = await Article.objects.update_many(filters={"status": "archived"}, views=0)
        print(f"update_many:              {reset}")
        print(f"delete_many:              {await Article.objects.delete_many(status='draft')}")
        # --8<-- [end:repository_methods]

        # --8<-- [start:instance]
        article = await Article.objects.get(title="Hello")
        try:
            article.objects  # noqa: B018 - managers live on the class only
        except AttributeError as exc:
            print(f"instance access:          {exc}")
        # --8<-- [end:instance]


if __name__ == "__main__":
    asyncio.run(main())
