"""Lookups and expressions: field__lookup=value, Q, F, and registering your own lookups."""

import asyncio
from datetime import date
from typing import Any

from sqlalchemy import JSON, String, func
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import (
    Database,
    F,
    InvalidLookupError,
    Model,
    Q,
    ValidationError,
    register_lookup,
    register_transform,
)


# --8<-- [start:model]
class Track(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    artist: Mapped[str] = mapped_column(String(100))
    genre: Mapped[str | None] = mapped_column(String(50))
    seconds: Mapped[int]
    plays: Mapped[int] = mapped_column(default=0)
    skips: Mapped[int] = mapped_column(default=0)
    released: Mapped[date]
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# --8<-- [end:model]


async def titles(qs: Any) -> list[str]:
    return [t.title for t in await qs.order_by("id")]


async def main() -> None:
    async with Database() as db:
        await db.reset()
        await Track.objects.create_many(
            [
                {
                    "title": "Blue Monday",
                    "artist": "New Order",
                    "genre": "synth",
                    "seconds": 448,
                    "plays": 90,
                    "skips": 5,
                    "released": date(1983, 3, 7),
                    "extra": {"label": {"name": "Factory"}, "bpm": 130},
                },
                {
                    "title": "blue in green",
                    "artist": "Miles Davis",
                    "genre": "jazz",
                    "seconds": 337,
                    "plays": 40,
                    "skips": 1,
                    "released": date(1959, 8, 17),
                    "extra": None,
                },
                {
                    "title": "So What",
                    "artist": "Miles Davis",
                    "genre": "jazz",
                    "seconds": 562,
                    "plays": 30,
                    "skips": 35,
                    "released": date(1959, 8, 17),
                    "extra": None,
                },
                {
                    "title": "Untitled",
                    "artist": "Unknown",
                    "genre": None,
                    "seconds": 120,
                    "plays": 2,
                    "skips": 9,
                    "released": date(2020, 1, 4),
                    "extra": {"label": {"name": "Self"}, "bpm": "130"},
                },
            ]
        )

        # --8<-- [start:text]
        print("contains 'Blue':    ", await titles(Track.objects.filter(title__contains="Blue")))
        print("icontains 'blue':   ", await titles(Track.objects.filter(title__icontains="blue")))
        print("iexact 'so what':   ", await titles(Track.objects.filter(title__iexact="so what")))
        print("startswith 'So':    ", await titles(Track.objects.filter(title__startswith="So")))
        print("iendswith 'GREEN':  ", await titles(Track.objects.filter(title__iendswith="GREEN")))
        print("regex '^[A-Z]o':    ", await titles(Track.objects.filter(title__regex=r"^[A-Z]o")))
        # --8<-- [end:text]

        # --8<-- [start:compare]
        print("seconds__gt=400:    ", await titles(Track.objects.filter(seconds__gt=400)))
        print("range(300, 450):    ", await titles(Track.objects.filter(seconds__range=(300, 450))))
        print(
            "artist__in:         ",
            await titles(Track.objects.filter(artist__in=["New Order", "Unknown"])),
        )
        print("genre=None:         ", await titles(Track.objects.filter(genre=None)))  # IS NULL
        print("genre__isnull=False:", await titles(Track.objects.filter(genre__isnull=False)))
        # --8<-- [end:compare]

        # --8<-- [start:dates]
        print("released__year=1959:", await titles(Track.objects.filter(released__year=1959)))
        print(
            "year__gte + month:  ",
            await titles(Track.objects.filter(released__year__gte=1980, released__month=3)),
        )
        # --8<-- [end:dates]

        # --8<-- [start:json]
        print(
            "JSON key path:      ", await titles(Track.objects.filter(extra__label__name="Factory"))
        )
        # a number compares with JSON numbers only: the string "130" is not 130
        print("JSON number key:    ", await titles(Track.objects.filter(extra__bpm__gte=120)))
        print("JSON string key:    ", await titles(Track.objects.filter(extra__bpm="130")))
        # --8<-- [end:json]

        # --8<-- [start:subquery]
        jazz_artists = Track.objects.filter(genre="jazz").values_list("artist", flat=True)
        print("in a QuerySet:      ", await titles(Track.objects.filter(artist__in=jazz_artists)))
        # --8<-- [end:subquery]

        # --8<-- [start:exclude]
        # exclude() keeps rows whose genre is NULL, as Django does
        print("exclude(genre=jazz):", await titles(Track.objects.exclude(genre="jazz")))
        # the complement of filter(), whatever is NULL on either side
        same = Track.objects.filter(genre=F("genre"))
        print("filter(genre=F):    ", await titles(same))
        print("exclude(genre=F):   ", await titles(Track.objects.exclude(genre=F("genre"))))
        # --8<-- [end:exclude]

        # --8<-- [start:q]
        long_or_popular = Q(seconds__gt=500) | Q(plays__gte=80)
        print("Q | Q:              ", await titles(Track.objects.filter(long_or_popular)))
        print(
            "Q & ~Q:             ",
            await titles(Track.objects.filter(Q(artist="Miles Davis") & ~Q(title="So What"))),
        )
        print(
            "Q and kwargs:       ",
            await titles(Track.objects.filter(Q(genre="jazz") | Q(genre="synth"), plays__gt=35)),
        )
        # --8<-- [end:q]

        # --8<-- [start:f]
        print("skips > plays:      ", await titles(Track.objects.filter(skips__gt=F("plays"))))
        print(
            "F arithmetic:       ", await titles(Track.objects.filter(plays__gte=F("skips") * 10))
        )
        await Track.objects.filter(genre="jazz").update(plays=F("plays") + 1)
        by_plays = await Track.objects.order_by(F("plays").desc()).values_list("plays", flat=True)
        print("after update(F+1):  ", by_plays)
        # --8<-- [end:f]

        # --8<-- [start:register]
        register_lookup("ne", lambda column, value: column != value)
        register_transform("length", lambda column: func.length(column), for_type=String)
        print("custom ne:          ", await titles(Track.objects.filter(artist__ne="Miles Davis")))
        print("transform length:   ", await titles(Track.objects.filter(title__length__lte=7)))
        # --8<-- [end:register]

        # --8<-- [start:invalid]
        try:
            Track.objects.filter(title__containz="Blue")
        except InvalidLookupError as exc:
            print(f"InvalidLookupError:  {exc}")
        # --8<-- [end:invalid]

        # --8<-- [start:values]
        for bad in (
            {"seconds": "448"},
            {"seconds__gt": 2**40},
            {"genre__in": "jazz"},
            {"released": "1983-03-07"},
        ):
            try:
                await Track.objects.filter(**bad)
            except ValidationError as exc:
                print(f"ValidationError:     {exc}")
        # --8<-- [end:values]


if __name__ == "__main__":
    asyncio.run(main())
