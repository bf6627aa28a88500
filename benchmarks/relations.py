"""R1: 100 posts with their author and tags prefetched, x50 — orm_kit against hand-written
SQLAlchemy ``selectinload`` code, in one process with rounds interleaved.

Run from the repository root (``make bench`` runs it after the W1-W10 suite)::

    python -m benchmarks.relations [--rounds 5] [--url postgresql+asyncpg://...]

Only the tables ``bench_rel_author``, ``bench_rel_post``, ``bench_rel_tag`` and
``bench_rel_post_tag`` are created, and they are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Any

from sqlalchemy import Column, ForeignKey, String, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload

from orm_kit import Database, Model

POSTS, AUTHORS, TAGS, TAGS_PER_POST, REPEATS = 100, 20, 30, 3, 50
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


# --- the columns, declared once for both stacks ------------------------------------------


class _AuthorColumns:
    __tablename__ = "bench_rel_author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class _TagColumns:
    __tablename__ = "bench_rel_tag"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class _PostColumns:
    __tablename__ = "bench_rel_post"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("bench_rel_author.id"))
    title: Mapped[str] = mapped_column(String(100))


def _link_table(metadata: Any) -> Table:
    return Table(
        "bench_rel_post_tag",
        metadata,
        Column("post_id", ForeignKey("bench_rel_post.id"), primary_key=True),
        Column("tag_id", ForeignKey("bench_rel_tag.id"), primary_key=True),
    )


# --- orm_kit models ------------------------------------------------------------------------

kit_post_tag = _link_table(Model.metadata)


class KitAuthor(_AuthorColumns, Model):
    pass


class KitTag(_TagColumns, Model):
    pass


class KitPost(_PostColumns, Model):
    author: Mapped[KitAuthor] = relationship()
    tags: Mapped[list[KitTag]] = relationship(secondary=kit_post_tag)


# --- the same tables as plain SQLAlchemy ORM models -----------------------------------------


class SaBase(DeclarativeBase):
    pass


sa_post_tag = _link_table(SaBase.metadata)


class SaAuthor(_AuthorColumns, SaBase):
    pass


class SaTag(_TagColumns, SaBase):
    pass


class SaPost(_PostColumns, SaBase):
    author: Mapped[SaAuthor] = relationship()
    tags: Mapped[list[SaTag]] = relationship(secondary=sa_post_tag)


# --- workloads --------------------------------------------------------------------------------


async def seed(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(SaBase.metadata.drop_all)
        await conn.run_sync(SaBase.metadata.create_all)
        await conn.execute(
            SaAuthor.__table__.insert(),
            [{"id": i, "name": f"author {i}"} for i in range(1, AUTHORS + 1)],
        )
        await conn.execute(
            SaTag.__table__.insert(), [{"id": i, "name": f"tag {i}"} for i in range(1, TAGS + 1)]
        )
        await conn.execute(
            SaPost.__table__.insert(),
            [
                {"id": i, "author_id": i % AUTHORS + 1, "title": f"post {i}"}
                for i in range(1, POSTS + 1)
            ],
        )
        await conn.execute(
            sa_post_tag.insert(),
            [
                {"post_id": p, "tag_id": (p + k) % TAGS + 1}
                for p in range(1, POSTS + 1)
                for k in range(TAGS_PER_POST)
            ],
        )


async def run_orm_kit(db: Database) -> int:
    loaded = 0
    for _ in range(REPEATS):
        qs = KitPost.objects.using(db).prefetch_related("author", "tags").order_by("id")
        posts = await qs[:POSTS]
        loaded += sum(len(p.tags) for p in posts) + len({p.author.name for p in posts})
    return loaded


async def run_sqlalchemy(sessions: async_sessionmaker) -> int:  # type: ignore[type-arg]
    loaded = 0
    stmt = (
        select(SaPost)
        .options(selectinload(SaPost.author), selectinload(SaPost.tags))
        .order_by(SaPost.id)
        .limit(POSTS)
    )
    for _ in range(REPEATS):
        async with sessions() as session:
            posts = (await session.execute(stmt)).scalars().all()
            loaded += sum(len(p.tags) for p in posts) + len({p.author.name for p in posts})
    return loaded


async def main(url: str, rounds: int) -> None:
    engine = create_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    db = await Database(url, name="bench_relations").connect()
    try:
        await seed(engine)
        assert await KitPost.objects.using(db).count() == POSTS
        contenders = {
            "orm_kit": lambda: run_orm_kit(db),
            "sqlalchemy": lambda: run_sqlalchemy(sessions),
        }
        checks = {label: await fn() for label, fn in contenders.items()}  # warm-up
        if len(set(checks.values())) != 1:
            print(f"warning: implementations loaded different data: {checks}", file=sys.stderr)
        times: dict[str, list[float]] = {label: [] for label in contenders}
        for rnd in range(1, rounds + 1):
            for label, fn in contenders.items():
                start = time.perf_counter()
                await fn()
                times[label].append(time.perf_counter() - start)
                print(f"  R1 round {rnd}: {label} {times[label][-1]:.3f}s", file=sys.stderr)
        kit_s = statistics.median(times["orm_kit"])
        sa_s = statistics.median(times["sqlalchemy"])
        print(f"### R1: {POSTS} posts + author + tags prefetched, x{REPEATS} (median of {rounds})")
        print("| implementation | seconds | ratio to SQLAlchemy selectinload |")
        print("|---|---:|---:|")
        print(f"| orm_kit prefetch_related | {kit_s:.3f} | {kit_s / sa_s:.2f}x (target <= 1.10) |")
        print(f"| SQLAlchemy selectinload | {sa_s:.3f} | 1.00x |")
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(SaBase.metadata.drop_all)
        await db.disconnect()
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--url", default=os.environ.get("ORM_KIT_BENCH_POSTGRES_URL", DEFAULT_URL))
    args = parser.parse_args()
    asyncio.run(main(args.url, args.rounds))
