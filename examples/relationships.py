"""Relationships: lookups through them, select_related / prefetch_related, fetch_related."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Column, ForeignKey, String, Table, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orm_kit import Count, Database, InvalidLookupError, Model, Q, RelationNotLoadedError, Sum


# --8<-- [start:model]
class Writer(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))

    stories: Mapped[list[Story]] = relationship(back_populates="writer")  # one-to-many


story_label = Table(  # the association table of the many-to-many
    "story_label",
    Model.metadata,
    Column("story_id", ForeignKey("story.id", ondelete="CASCADE"), primary_key=True),
    Column("label_id", ForeignKey("label.id", ondelete="CASCADE"), primary_key=True),
)


class Story(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    writer_id: Mapped[int] = mapped_column(ForeignKey("writer.id"))
    title: Mapped[str] = mapped_column(String(200))
    words: Mapped[int] = mapped_column(default=0)

    writer: Mapped[Writer] = relationship(back_populates="stories")  # many-to-one
    labels: Mapped[list[Label]] = relationship(secondary=story_label, back_populates="stories")
    remarks: Mapped[list[Remark]] = relationship(back_populates="story")


class Label(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    color: Mapped[str] = mapped_column(String(20))

    stories: Mapped[list[Story]] = relationship(secondary=story_label, back_populates="labels")


class Remark(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("story.id", ondelete="CASCADE"))
    writer_id: Mapped[int | None] = mapped_column(ForeignKey("writer.id"))
    body: Mapped[str] = mapped_column(String(200))

    story: Mapped[Story] = relationship(back_populates="remarks")
    writer: Mapped[Writer | None] = relationship()  # who wrote the remark


# --8<-- [end:model]


# --8<-- [start:count_selects]
@contextmanager
def count_selects(db: Database) -> Iterator[list[str]]:
    """Record every SELECT sent to the database inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


# --8<-- [end:count_selects]


async def titles(qs: Any) -> list[str]:
    return sorted(story.title for story in await qs)


async def main() -> None:
    async with Database() as db:
        await db.reset()

        # --8<-- [start:write]
        ann = await Writer.objects.create(name="Ann")
        bob = await Writer.objects.create(name="Bob")
        await Writer.objects.create(name="Cleo")  # has no stories
        async with db.session() as session:
            fantasy = Label(name="fantasy", color="red")
            mystery = Label(name="mystery", color="blue")
            short = Label(name="short", color="red")
            glass = Story(writer_id=ann.id, title="The Glass Road", words=4000)  # a foreign key
            train = Story(writer_id=ann.id, title="Night Train", words=9000)
            salt = Story(writer_id=bob.id, title="Salt and Ash", words=2500)
            # New objects go into the session first, then are related to each other.
            session.add_all([fantasy, mystery, short, glass, train, salt])
            glass.labels = [fantasy, short]
            train.labels = [mystery, short]
            salt.labels = [fantasy]
            await session.flush()  # the stories get their ids
            session.add_all(
                [
                    Remark(story_id=glass.id, writer_id=bob.id, body="Lovely ending"),
                    Remark(story_id=glass.id, writer_id=ann.id, body="Thanks!"),
                    Remark(story_id=salt.id, writer_id=ann.id, body="Too short"),
                ]
            )
        n_stories, n_remarks = await Story.objects.count(), await Remark.objects.count()
        print(f"written:       {n_stories} stories, {n_remarks} remarks")
        # --8<-- [end:write]

        # --8<-- [start:to_one]
        print(f"writer name:   {await titles(Story.objects.filter(writer__name='Ann'))}")
        print(f"icontains:     {await titles(Story.objects.filter(writer__name__icontains='b'))}")
        print(f"writer=obj:    {await titles(Story.objects.filter(writer=bob))}")
        print(f"writer=id:     {await titles(Story.objects.filter(writer=bob.id))}")
        print(f"writer__in:    {await titles(Story.objects.filter(writer__in=[bob.id]))}")
        # --8<-- [end:to_one]

        # --8<-- [start:to_many]
        # One row per writer, however many of their stories match (EXISTS, not a JOIN).
        busy = Writer.objects.filter(stories__words__gt=1000).order_by("name")
        print(f"one-to-many:   {[w.name for w in await busy]}, count={await busy.count()}")
        print(f"many-to-many:  {await titles(Story.objects.filter(labels__name='fantasy'))}")
        nested = Writer.objects.filter(stories__labels__name="mystery")
        print(f"nested:        {await nested.values_list('name', flat=True)}")
        on_ann = await Remark.objects.filter(story__writer__name="Ann").count()
        print(f"nested to-one: {on_ann} remarks on Ann's stories")
        idle = Writer.objects.filter(stories__isnull=True).values_list("name", flat=True)
        print(f"isnull:        {await idle}")
        # --8<-- [end:to_many]

        # --8<-- [start:same_row]
        # One filter() call: the same label must be "short" and blue. "short" is red.
        same = Story.objects.filter(labels__name="short", labels__color="blue")
        print(f"one call:      {await titles(same)}")
        # Two calls: one label is "short", and one label (here "mystery") is blue.
        two = Story.objects.filter(labels__name="short").filter(labels__color="blue")
        print(f"two calls:     {await titles(two)}")
        # exclude(): writers with no story whose title contains "road".
        rest = Writer.objects.exclude(stories__title__icontains="road").order_by("name")
        print(f"exclude:       {[w.name for w in await rest]}")
        # --8<-- [end:same_row]

        # --8<-- [start:unknown]
        try:
            Story.objects.filter(author__name="Ann")  # checked when the QuerySet is built
        except InvalidLookupError as exc:
            print(f"filter:        {exc}")
        try:
            Story.objects.select_related("labels")  # to-many: a JOIN would repeat stories
        except InvalidLookupError as exc:
            print(f"select_related: {exc}")
        # --8<-- [end:unknown]

        # --8<-- [start:select_related]
        # One query with a JOIN; the instances come back detached and loaded.
        remarks = await Remark.objects.select_related("story__writer", "writer").order_by("id")
        for remark in remarks:
            assert remark.writer is not None
            print(
                f"  {remark.writer.name} on {remark.story.title!r} "
                f"by {remark.story.writer.name}: {remark.body}"
            )
        # --8<-- [end:select_related]

        # --8<-- [start:prefetch_related]
        stories = await Story.objects.prefetch_related("labels", "remarks__writer").order_by("id")
        for story in stories:
            labels = ", ".join(sorted(label.name for label in story.labels))
            by = ", ".join(sorted(r.writer.name for r in story.remarks if r.writer is not None))
            print(f"  {story.title:<15} labels: {labels:<15} remarks by: {by or '-'}")
        # --8<-- [end:prefetch_related]

        # --8<-- [start:fetch_related]
        cleo = await Writer.objects.get(name="Cleo")
        await ann.fetch_related("stories__labels")  # one query per level
        await cleo.fetch_related("stories")
        for writer in (ann, cleo):
            print(f"fetch_related: {writer.name}: {sorted(s.title for s in writer.stories)}")
        # --8<-- [end:fetch_related]

        # --8<-- [start:not_loaded]
        story = await Story.objects.get(title="Night Train")
        try:
            print(story.writer.name)  # never loaded: no hidden query, a clear error
        except RelationNotLoadedError as exc:
            print(f"not loaded:    {exc}")
        # --8<-- [end:not_loaded]

        # --8<-- [start:related]
        labels = glass.related("labels")  # a to-many relationship of one saved story
        await labels.add(mystery)  # writes the link row; no collection is loaded
        await labels.remove(short)
        names = sorted(await labels.all().values_list("name", flat=True))
        print(f"related:       The Glass Road is now labelled {names}")
        await labels.set([fantasy, short])  # exactly these, in one unit of work
        # --8<-- [end:related]

        # --8<-- [start:across]
        by_writer = await Story.objects.order_by("writer__name", "-words").values_list(
            "writer__name", "title"
        )
        print(f"order/values:  {by_writer}")
        # --8<-- [end:across]

        # --8<-- [start:aggregates]
        writers = await Writer.objects.annotate(
            n_stories=Count("stories"), words=Sum("stories__words")
        ).order_by("-n_stories", "name")
        print("annotate:     ", [(w.name, w.n_stories, w.words) for w in writers])
        prolific = Writer.objects.annotate(n_stories=Count("stories")).filter(n_stories__gte=2)
        print(f"filtered:      {await prolific.values_list('name', flat=True)}")
        long_ones = Count("stories", filter=Q(stories__words__gte=5000))
        counts = await Writer.objects.annotate(long=long_ones).order_by("name")
        print(f"filter=:       {[(w.name, w.long) for w in counts]}")
        totals = await Story.objects.aggregate(labels=Count("labels", distinct=True))
        print(f"aggregate:     {totals}")
        per_label = await Story.objects.values("labels__name").annotate(n=Count("id"))
        print(f"group by:      {sorted((r['labels__name'], r['n']) for r in per_label)}")
        # --8<-- [end:aggregates]

        # --8<-- [start:n_plus_one]
        await Story.objects.bulk_create(
            [Story(writer_id=bob.id, title=f"Sketch {i}", words=100 * i) for i in range(1, 18)]
        )
        with count_selects(db) as selects:
            stories = await Story.objects.order_by("id")
            for story in stories:  # N+1: queries for every story
                await story.fetch_related("writer")
        print(f"fetch_related per story:  {len(stories)} stories, {len(selects)} queries")
        with count_selects(db) as selects:
            stories = await Story.objects.prefetch_related("writer").order_by("id")
        print(f"prefetch_related:         {len(stories)} stories, {len(selects)} queries")
        with count_selects(db) as selects:
            stories = await Story.objects.select_related("writer").order_by("id")
        print(f"select_related:           {len(stories)} stories, {len(selects)} query")
        # --8<-- [end:n_plus_one]


if __name__ == "__main__":
    asyncio.run(main())
