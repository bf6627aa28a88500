"""Querying: lazy QuerySets, chaining, terminal methods, values and bulk writes."""

import asyncio
import re

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Avg, Count, Database, F, Max, Min, Model, Sum


# --8<-- [start:model]
class Movie(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    genre: Mapped[str] = mapped_column(String(50))
    year: Mapped[int]
    rating: Mapped[float | None]
    votes: Mapped[int] = mapped_column(default=0)


# --8<-- [end:model]


async def main() -> None:
    async with Database() as db:
        await db.reset()

        # --8<-- [start:bulk_create]
        movies = await Movie.objects.bulk_create(
            [
                Movie(title="Alien", genre="sci-fi", year=1979, rating=8.5, votes=900),
                Movie(title="Arrival", genre="sci-fi", year=2016, rating=7.9, votes=700),
                Movie(title="Heat", genre="crime", year=1995, rating=8.3, votes=650),
                Movie(title="Up", genre="animation", year=2009, rating=8.3, votes=1100),
                Movie(title="Solaris", genre="sci-fi", year=1972, rating=None),
            ]
        )
        print(f"bulk_create:   ids {[m.id for m in movies]}")
        # --8<-- [end:bulk_create]

        # --8<-- [start:lazy]
        scifi = Movie.objects.filter(genre="sci-fi")  # no query yet: QuerySets are lazy
        recent = scifi.filter(year__gte=1975).order_by("-year")  # a new QuerySet; scifi unchanged
        sql = " ".join(recent.sql().split())
        # asyncpg's placeholders ($1::VARCHAR) and asyncmy's (%s) shown as ?
        sql = re.sub(r"\$\d+::\w+|%s", "?", sql)
        print(f"SQL:           {sql}")
        print(f"await:         {[m.title for m in await recent]}")  # awaiting runs it
        print(f"scifi count:   {await scifi.count()}")
        # --8<-- [end:lazy]

        # --8<-- [start:chaining]
        not_crime = Movie.objects.exclude(genre="crime").order_by("title")
        print(f"exclude:       {[m.title for m in await not_crime]}")
        print(f"slice [1:3]:   {[m.title for m in await not_crime[1:3]]}")  # OFFSET 1 LIMIT 2
        print(f"index [0]:     {(await not_crime[0]).title}")
        genres = await Movie.objects.order_by("genre").values_list("genre", flat=True).distinct()
        print(f"distinct:      {genres}")
        plain_sa = await Movie.objects.filter(Movie.votes > 800).order_by("id")  # SQLAlchemy too
        print(f"SQLAlchemy:    {[m.title for m in plain_sa]}")
        # --8<-- [end:chaining]

        # --8<-- [start:single]
        print(f"get:           {await Movie.objects.get(title='Heat')!r}")
        print(
            f"first/last:    {(await Movie.objects.first()).title} / "  # by pk when unordered
            f"{(await Movie.objects.last()).title}"
        )
        print(f"latest year:   {(await Movie.objects.latest('year')).title}")
        print(f"earliest year: {(await Movie.objects.earliest('year')).title}")
        print(f"exists:        {await Movie.objects.filter(genre='western').exists()}")
        print(f"in_bulk:       {sorted(await Movie.objects.in_bulk([1, 2]))}")
        # --8<-- [end:single]

        # --8<-- [start:values]
        rows = await Movie.objects.filter(genre="sci-fi").order_by("year").values("title", "year")
        print(f"values:        {rows}")
        pairs = await Movie.objects.order_by("id")[:2].values_list("title", "year")
        print(f"values_list:   {pairs}")
        named = await Movie.objects.filter(title="Up").values_list("title", "votes", named=True)
        print(f"named:         {named[0].title} has {named[0].votes} votes")
        # --8<-- [end:values]

        # --8<-- [start:only]
        light = await Movie.objects.only("title").order_by("id")[:1]
        print(f"only:          {light[0]!r}")  # only id and title are loaded
        # --8<-- [end:only]

        # --8<-- [start:aggregate]
        stats = await Movie.objects.filter(genre="sci-fi").aggregate(
            Count("id"), total=Sum("votes"), avg=Avg("votes"), low=Min("year"), high=Max("year")
        )
        print(f"aggregate:     {stats}")
        # --8<-- [end:aggregate]

        # --8<-- [start:annotate]
        ranked = Movie.objects.annotate(score=F("votes") * 2).order_by("-score")
        best = await ranked.first()
        print(f"annotate:      {best.title} score={best.score}")
        # --8<-- [end:annotate]

        # --8<-- [start:writes]
        movie, created = await Movie.objects.get_or_create(
            title="Heat", defaults={"genre": "crime", "year": 1995}
        )
        print(f"get_or_create: {movie.title} created={created}")
        movie, created = await Movie.objects.update_or_create(
            title="Dune",
            defaults={"rating": 8.0},
            create_defaults={"genre": "sci-fi", "year": 2021, "rating": 8.0},
        )
        print(f"update_or_create: {movie.title} created={created}")
        for m in movies:  # instances in memory; bulk_update writes the named fields
            m.votes += 1
        print(f"bulk_update:   {await Movie.objects.bulk_update(movies, ['votes'])} rows")
        n = await Movie.objects.filter(genre="sci-fi").update(votes=F("votes") + 10)
        print(f"update:        {n} rows")
        print(f"delete:        {await Movie.objects.filter(rating__isnull=True).delete()} rows")
        # --8<-- [end:writes]

        # --8<-- [start:iterate]
        async for m in Movie.objects.order_by("year").iterator(chunk_size=2):
            print(f"  {m.year} {m.title:<8} votes={m.votes}")
        # --8<-- [end:iterate]

        # --8<-- [start:none]
        print(f"none():        {await Movie.objects.none()} / {await Movie.objects.none().count()}")
        # --8<-- [end:none]


if __name__ == "__main__":
    asyncio.run(main())
