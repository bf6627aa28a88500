"""Tests as an orm_kit user writes them: each takes ``orm_session``, and everything it
writes, commits included, is rolled back when it ends (run: ``pytest examples/testing``)."""

import pytest
from blog import Article, ArticleFactory, Author, AuthorFactory
from sqlalchemy import select

from orm_kit import ConflictError, Database, transaction


# --8<-- [start:basic]
async def test_sign_up(orm_session):
    await Author.objects.create(email="ann@example.com", name="Ann")
    assert await Author.objects.filter(email="ann@example.com").exists()


async def test_sign_up_again(orm_session):
    # The same unique email: the first test's row is gone, whichever test ran first.
    await Author.objects.create(email="ann@example.com", name="Ann")
    assert await Author.objects.count() == 1


# --8<-- [end:basic]


# --8<-- [start:commits]
async def test_commits_are_rolled_back_too(orm_session, orm_database: Database):
    async with orm_database.session():  # commits at the end of the block ...
        await Author.objects.create(email="bob@example.com", name="Bob")
    async with transaction():  # ... and so does this one
        await Author.objects.create(email="cleo@example.com", name="Cleo")
    assert await Author.objects.count() == 2  # ... and yet the next test sees neither


# --8<-- [end:commits]


# --8<-- [start:savepoint]
async def draft_and_sign_up_again(author: Author) -> None:
    async with transaction():
        await Article.objects.create(author_id=author.id, title="Draft")
        await Author.objects.create(email=author.email, name="Ann again")  # a conflict


async def test_a_failed_transaction_undoes_only_itself(orm_session):
    ann = await Author.objects.create(email="ann@example.com", name="Ann")
    with pytest.raises(ConflictError):
        await draft_and_sign_up_again(ann)
    assert await Article.objects.count() == 0
    assert await Author.objects.count() == 1


# --8<-- [end:savepoint]


# --8<-- [start:session]
async def test_the_session_of_the_fixture(orm_session):
    orm_session.add(Author(email="dee@example.com", name="Dee"))
    await orm_session.commit()  # releases a SAVEPOINT; the test's transaction goes on
    names = (await orm_session.execute(select(Author.name))).scalars().all()
    assert names == ["Dee"]


# --8<-- [end:session]


# --8<-- [start:factories_use]
async def test_factories(orm_session):
    author = await AuthorFactory.create_async(name="Ann")
    articles = await ArticleFactory.create_batch_async(3, author_id=author.id)
    assert author.created_at is not None  # mixin columns are left to orm_kit
    await articles[0].delete()  # soft delete still applies
    assert await Article.objects.filter(author_id=author.id).count() == 2
    assert await Article.all_objects.count() == 3


# --8<-- [end:factories_use]


async def test_nothing_is_left(orm_session):
    assert await Author.objects.count() == 0
    assert await Article.all_objects.count() == 0
