"""Create, read, save, delete and refresh single rows, on every backend."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm.exc import DetachedInstanceError

from orm_kit import Database, NotFoundError, ValidationError
from orm_kit.query.meta import LAZY_STATE
from tests.models import HTTPLog, User


async def test_create_returns_loaded_instance_with_defaults(db: Database) -> None:
    user = await User.objects.create(email="ann@example.com", name="Ann")
    assert user.id is not None
    assert user.is_active is True  # Python-side default, read back through RETURNING
    assert user.score == 0
    async with db.engine.connect() as conn:
        row = (await conn.execute(text('SELECT email, name FROM "user"'))).one()
    assert tuple(row) == ("ann@example.com", "Ann")


async def test_get_by_pk_and_by_lookup(db: Database) -> None:
    created = await User.objects.create(email="ann@example.com", name="Ann")
    assert (await User.objects.get(id=created.id)).email == "ann@example.com"
    assert (await User.objects.get(pk=created.id)).id == created.id
    assert (await User.objects.get(email="ann@example.com")).name == "Ann"


async def test_get_missing_raises_model_does_not_exist(db: Database) -> None:
    with pytest.raises(User.DoesNotExist) as info:
        await User.objects.get(id=12345)
    assert isinstance(info.value, NotFoundError)
    assert "User" in str(info.value)
    assert "id" in str(info.value)
    assert "12345" not in str(info.value)  # filter names only, never values


async def test_get_several_raises_multiple_objects_returned(db: Database) -> None:
    await User.objects.create(email="a@x.io", name="Same")
    await User.objects.create(email="b@x.io", name="Same")
    with pytest.raises(User.MultipleObjectsReturned):
        await User.objects.get(name="Same")
    assert await User.objects.count() == 2


async def test_save_detached_instance_writes_only_changed_columns(db: Database) -> None:
    user = await User.objects.create(email="ann@example.com", name="Ann", age=30)
    # Someone else changes another column meanwhile.
    await User.objects.filter(id=user.id).update(age=31)
    user.name = "Anne"
    await user.save()
    fresh = await User.objects.get(id=user.id)
    assert fresh.name == "Anne"
    assert fresh.age == 31  # not overwritten with the stale 30


async def test_save_new_instance_inserts(db: Database) -> None:
    user = User(email="new@x.io", name="New")
    await user.save()
    assert user.id is not None
    assert (await User.objects.get(id=user.id)).email == "new@x.io"


async def test_update_sets_attributes_without_io(db: Database) -> None:
    user = await User.objects.create(email="ann@example.com", name="Ann")
    user.update(name="Anne", age=5)
    assert (await User.objects.get(id=user.id)).name == "Ann"
    await user.save()
    assert (await User.objects.get(id=user.id)).name == "Anne"


async def test_update_unknown_name_raises_validation_error(db: Database) -> None:
    user = await User.objects.create(email="ann@example.com")
    with pytest.raises(ValidationError, match="nickname"):
        user.update(nickname="x")


async def test_instance_delete(db: Database) -> None:
    user = await User.objects.create(email="ann@example.com")
    assert await user.delete() == 1
    assert not await User.objects.filter(id=user.id).exists()


async def test_refresh_from_db(db: Database) -> None:
    user = await User.objects.create(email="ann@example.com", name="Ann")
    await User.objects.filter(id=user.id).update(name="Changed")
    await user.refresh_from_db()
    assert user.name == "Changed"
    await user.delete()
    with pytest.raises(User.DoesNotExist):
        await user.refresh_from_db()


async def test_to_dict_and_repr(db: Database) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).replace(tzinfo=None)
    user = await User.objects.create(email="ann@example.com", name="Ann", last_login=when)
    data = user.to_dict(exclude={"data"})
    assert data["email"] == "ann@example.com"
    assert "data" not in data
    assert user.to_dict(include={"pk"})["pk"] == user.id
    assert repr(user).startswith("User(id=")
    assert "email='ann@example.com'" in repr(user)


async def test_instances_are_usable_after_the_call(db: Database) -> None:
    await User.objects.create(email="ann@example.com", name="Ann")
    users = await User.objects.all()
    # Detached and loaded: attribute access does no I/O and raises nothing.
    assert [u.name for u in users] == ["Ann"]


async def test_tablename_derivation_round_trips(db: Database) -> None:
    await HTTPLog.objects.create(path="/health")
    async with db.engine.connect() as conn:
        paths = (await conn.execute(select(HTTPLog.path))).scalars().all()
    assert paths == ["/health"]
    assert HTTPLog.__tablename__ == "http_log"


async def test_manager_not_reachable_from_instances(db: Database) -> None:
    user = User(email="x@x.io")
    with pytest.raises(AttributeError, match="isn't accessible via User instances"):
        _ = user.objects


async def test_loaded_instances_make_their_state_on_first_use(db: Database) -> None:
    """Results read outside a session carry only their values until SQLAlchemy needs
    their state; it is then made detached, with the row's identity."""
    await User.objects.bulk_create([User(email=f"{n}@x.io", name=n) for n in ("a", "b")])
    ann, bob = await User.objects.order_by("email")
    assert "_sa_instance_state" not in vars(ann)
    assert (ann.email, ann.name) == ("a@x.io", "a")  # reading needs no state
    assert "_sa_instance_state" not in vars(ann)
    state = sa_inspect(ann)
    assert state.detached and state.identity == (ann.id,)
    assert vars(ann)["_sa_instance_state"] is state
    assert LAZY_STATE not in vars(ann)
    assert sa_inspect(ann) is state  # made once

    # A write is tracked from the loaded value; save() sends only that column.
    await User.objects.filter(id=bob.id).update(age=40)
    bob.name = "Bob"
    assert sa_inspect(bob).attrs.name.history.deleted == ["b"]
    await bob.save()
    fresh = await User.objects.get(id=bob.id)
    assert (fresh.name, fresh.age) == ("Bob", 40)

    # A loaded instance joins a session as the persistent row it stands for.
    async with db.session() as session:
        session.add(fresh)
        fresh.age = 41
    assert (await User.objects.get(id=bob.id)).age == 41


async def test_copies_of_loaded_instances_get_their_own_state(db: Database) -> None:
    user = await User.objects.create(email="c@x.io", name="C")
    loaded = await User.objects.get(id=user.id)
    for clone in (pickle.loads(pickle.dumps(loaded)), copy.deepcopy(loaded)):
        assert clone.email == "c@x.io"
        state = sa_inspect(clone)
        assert state.detached and state.identity == (user.id,)
        assert state is not sa_inspect(loaded)
    new = User(email="d@x.io")
    clone = pickle.loads(pickle.dumps(new))
    assert sa_inspect(clone).transient
    await clone.save()
    assert (await User.objects.get(email="d@x.io")).id == clone.id


async def test_create_with_sql_expression_and_varying_columns(db: Database) -> None:
    """Values travel as parameters of one cached statement; a SQL expression is rendered."""
    lowered = await User.objects.create(email=func.lower("ANN@X.IO"))
    assert lowered.email == "ann@x.io"
    named = await User.objects.create(email="bob@x.io", name="Bob", age=3)
    plain = await User.objects.create(email="cy@x.io")
    assert (named.name, named.age, plain.name, plain.age) == ("Bob", 3, "", None)
    rows = await User.objects.order_by("email").values_list("email", "name", "age")
    assert rows == [("ann@x.io", "", None), ("bob@x.io", "Bob", 3), ("cy@x.io", "", None)]


async def test_columns_left_out_by_only_refuse_to_load_when_detached(db: Database) -> None:
    await User.objects.create(email="e@x.io", name="E")
    (user,) = await User.objects.only("email")
    assert user.email == "e@x.io"
    with pytest.raises(DetachedInstanceError):
        _ = user.name
    (full,) = await User.objects.defer("age")
    assert full.name == "E"
    with pytest.raises(DetachedInstanceError):
        _ = full.age


async def test_create_and_save_in_a_session_leave_no_column_unloaded(db: Database) -> None:
    # Nullable columns left out of the INSERT are NULL in the row: the instance must say so
    # without SQL (a read schema, e.g. a FastAPI response, reads every column).
    async with db.session() as session:
        created = await User.objects.create(email="ann@example.com")
        saved = User(email="bob@example.com")
        await saved.save()
        added = User(email="cy@example.com")
        session.add(added)  # raw SQLAlchemy use of the session
        await session.flush()
        for user in (created, saved, added):
            assert sa_inspect(user).unloaded == {"posts"}
            assert (user.age, user.last_login, user.data) == (None, None, None)
    reloaded = await User.objects.get(id=created.id)
    assert (reloaded.age, reloaded.data) == (None, None)
