"""The small project the plugin tests run pytest on (through ``pytester``): its settings,
models and a factory, written into the pytester directory."""

from __future__ import annotations

import pytest

INI = """
[pytest]
asyncio_mode = auto
filterwarnings =
    error
    ignore:The configuration option "asyncio_default_fixture_loop_scope" is unset
"""
SESSION_LOOPS = """
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
"""
MODULE_LOOP_MARK = """
import pytest as _pytest

pytestmark = _pytest.mark.asyncio(loop_scope="module")
"""

#: The event loops an inner run puts its tests in: pytest-asyncio's default (a loop per
#: test, no setting at all), the session loop (both ini settings), and a mix (the default,
#: with every test module marked to run in a module loop).
LOOPS = ("function", "session", "module")

MODELS = '''
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Model
from orm_kit.types import UTCDateTime
from orm_kit.mixins import AuditMixin, ReadOnlyMixin, SoftDeleteMixin, TimestampMixin
from orm_kit.testing.factories import ModelFactory


class PlugNote(Model):
    __tablename__ = "plug_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(40), unique=True)


class PlugPost(SoftDeleteMixin, TimestampMixin, AuditMixin, Model):
    __tablename__ = "plug_post"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(30))
    published: Mapped[datetime] = mapped_column(UTCDateTime)
    edited: Mapped[datetime | None]


class PlugCountry(ReadOnlyMixin, Model):
    __tablename__ = "plug_country"

    code: Mapped[str] = mapped_column(String(2), primary_key=True)


class PlugPostFactory(ModelFactory[PlugPost]):
    pass


class PlugNoteFactory(ModelFactory[PlugNote]):
    pass


class PlugCountryFactory(ModelFactory[PlugCountry]):
    pass


async def rows_elsewhere(url, table):
    """Count the rows of ``table`` through an engine of its own (another connection)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
    finally:
        await engine.dispose()
'''


def write_project(pytester: pytest.Pytester, loops: str = "session", **test_files: str) -> None:
    """Write the settings, ``plug_models.py`` and the given test files, their tests in the
    event loops ``loops`` names (one of ``LOOPS``)."""
    pytester.makeini(INI + SESSION_LOOPS if loops == "session" else INI)
    if loops == "module":
        test_files = {name: MODULE_LOOP_MARK + text for name, text in test_files.items()}
    pytester.makepyfile(plug_models=MODELS, **test_files)


ISOLATION = """
import pytest
from sqlalchemy import select

from orm_kit import on_commit, transaction
from orm_kit.exceptions import ConflictError, ReadOnlyError
from orm_kit.mixins import acting_as, allow_writes
from plug_models import (
    PlugCountry,
    PlugCountryFactory,
    PlugNote,
    PlugNoteFactory,
    PlugPost,
    PlugPostFactory,
    rows_elsewhere,
)


async def test_direct_path_write(orm_session, orm_database):
    await PlugNote.objects.create(title="same")
    assert await PlugNote.objects.count() == 1
    assert await rows_elsewhere(orm_database.url, "plug_note") == 0


async def test_session_commit(orm_session, orm_database):
    committed = []
    async with orm_database.session():
        await PlugNote.objects.create(title="same")
        on_commit(lambda: committed.append("same"))
        assert committed == []
    assert committed == ["same"]
    assert await PlugNote.objects.filter(title="same").exists()


async def test_transaction_commit(orm_session, orm_database):
    async with transaction():
        await PlugNote.objects.create(title="same")
    async with orm_database.transaction():
        await PlugNote.objects.create(title="other")
    assert await PlugNote.objects.count() == 2


async def test_raw_session_commit(orm_session):
    orm_session.add(PlugNote(title="same"))
    await orm_session.commit()
    assert (await orm_session.execute(select(PlugNote.title))).scalars().all() == ["same"]
    orm_session.add(PlugNote(title="other"))
    await orm_session.commit()
    assert await PlugNote.objects.count() == 2


async def test_fails_midway(orm_session, orm_database):
    await PlugNote.objects.create(title="same")
    async with orm_database.session():
        await PlugNote.objects.create(title="other")
    raise AssertionError("failing midway on purpose")


async def test_conflict_on_the_direct_path_leaves_the_test_usable(orm_session):
    await PlugNote.objects.create(title="same")
    with pytest.raises(ConflictError):
        await PlugNote.objects.create(title="same")
    assert await PlugNote.objects.count() == 1


async def test_savepoint_rollback(orm_session, orm_database):
    await PlugNote.objects.create(title="kept")
    with pytest.raises(RuntimeError):
        async with transaction():
            await PlugNote.objects.create(title="dropped")
            raise RuntimeError
    async with orm_database.session():
        await PlugNote.objects.create(title="outer")
        with pytest.raises(ConflictError):
            async with transaction():
                await PlugNote.objects.create(title="inner")
                await PlugNote.objects.create(title="kept")
        await PlugNote.objects.create(title="after")
    titles = await PlugNote.objects.order_by("title").values_list("title", flat=True)
    assert titles == ["after", "kept", "outer"]


async def test_session_rolled_back_on_error(orm_session, orm_database):
    with pytest.raises(ConflictError):
        async with orm_database.session():
            await PlugNote.objects.create(title="gone")
            await PlugNote.objects.create(title="gone")
    assert await PlugNote.objects.count() == 0


async def test_rules_apply(orm_session):
    post = await PlugPostFactory.create_async()
    await post.delete()
    assert await PlugPost.objects.count() == 0
    assert await PlugPost.all_objects.count() == 1
    with pytest.raises(ReadOnlyError):
        await PlugCountry.objects.create(code="FR")
    with pytest.raises(ReadOnlyError):
        orm_session.add(PlugCountry(code="DE"))
        await orm_session.commit()
    await orm_session.rollback()
    with allow_writes(PlugCountry):
        await PlugCountry.objects.create(code="FR")
    assert await PlugCountry.objects.count() == 1


async def test_factories(orm_session, orm_database):
    with acting_as("alice"):
        posts = await PlugPostFactory.create_batch_async(3)
    assert await PlugPost.objects.count() == 3
    for post in posts:
        assert post.created_by == "alice" and post.deleted_at is None
        assert post.created_at is not None and post.published.tzinfo is not None
        assert isinstance(post.title, str) and len(post.title) <= 30
        assert post.edited is None or post.edited.tzinfo is None
    async with orm_database.session() as session:
        post = await PlugPostFactory.create_async(title="in a session")
        assert post in session
    assert await PlugPost.objects.filter(title="in a session").exists()
    await PlugNoteFactory.create_async(title="taken")
    with pytest.raises(ConflictError):
        await PlugNoteFactory.create_async(title="taken")
    async with orm_database.session():
        with pytest.raises(ConflictError):
            await PlugNoteFactory.create_async(title="taken")
        await PlugNoteFactory.create_async(title="free")  # the session goes on
    with pytest.raises(ReadOnlyError):
        await PlugCountryFactory.create_async()
    with allow_writes(PlugCountry):
        country = await PlugCountryFactory.create_async()
    assert await PlugCountry.objects.filter(code=country.code).exists()
    assert await PlugNote.objects.count() == 2


async def test_bulk_writes_and_streaming(orm_session):
    await PlugNote.objects.bulk_create([PlugNote(title=f"n{i}") for i in range(3)])
    seen = [note.title async for note in PlugNote.objects.order_by("title").iterator(chunk_size=2)]
    assert seen == ["n0", "n1", "n2"]


async def test_zz_nothing_left_behind(orm_database):
    for table in ("plug_note", "plug_post", "plug_country"):
        assert await rows_elsewhere(orm_database.url, table) == 0, table
    assert await PlugNote.objects.count() == 0
"""

UNIQUE = """
from plug_models import PlugNote


async def test_first(orm_session):
    await PlugNote.objects.create(title="unique")
    assert await PlugNote.objects.count() == 1


async def test_second(orm_session, orm_database):
    async with orm_database.session():
        await PlugNote.objects.create(title="unique")
    assert await PlugNote.objects.count() == 1
"""

IN_MEMORY = """
from sqlalchemy import select

from orm_kit import get_database
from plug_models import PlugNote


async def test_the_default_is_in_memory_sqlite(orm_database):
    assert orm_database.dialect == "sqlite" and orm_database.url.database == ":memory:"
    assert get_database() is orm_database


async def test_the_direct_path_and_sessions_share_the_data(orm_session, orm_database):
    await PlugNote.objects.create(title="direct")
    async with orm_database.session():
        assert await PlugNote.objects.count() == 1
        await PlugNote.objects.create(title="session")
    assert await PlugNote.objects.count() == 2
    assert len((await orm_session.execute(select(PlugNote))).scalars().all()) == 2


async def test_nothing_left_behind(orm_database):
    assert await PlugNote.objects.count() == 0
"""

FROM_VARIABLE = """
import os

from sqlalchemy.engine import make_url


async def test_the_url_comes_from_the_variable(orm_database):
    assert orm_database.url == make_url(os.environ["ORM_KIT_TEST_DATABASE_URL"])
"""

OTHER_LOOP = """
import pytest_asyncio

from plug_models import PlugNote


@pytest_asyncio.fixture(loop_scope="session")
async def note(orm_session):
    return await PlugNote.objects.create(title="x")


async def test_with_a_fixture_in_another_loop(note):
    pass
"""

UNUSED = """
import sys

import pytest

from orm_kit import get_database
from orm_kit.exceptions import DatabaseUnavailableError


def test_the_plugin_does_nothing_unasked():
    with pytest.raises(DatabaseUnavailableError):
        get_database()
    assert "polyfactory" not in sys.modules
"""

MIXED_LOOPS = """
import pytest

from plug_models import PlugNote, rows_elsewhere


@pytest.mark.asyncio(loop_scope="class")
class TestInAClassLoop:
    async def test_one(self, orm_session):
        await PlugNote.objects.create(title="unique")

    async def test_two(self, orm_session, orm_database):
        async with orm_database.session():
            await PlugNote.objects.create(title="unique")
        assert await PlugNote.objects.count() == 1


@pytest.mark.asyncio(loop_scope="session")
async def test_in_the_session_loop(orm_session):
    await PlugNote.objects.create(title="unique")


async def test_in_a_loop_of_its_own(orm_session, orm_database):
    await PlugNote.objects.create(title="unique")
    assert await rows_elsewhere(orm_database.url, "plug_note") == 0
"""
