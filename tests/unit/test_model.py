"""Model metaclass behaviour that needs no database."""

from __future__ import annotations

import copy
import sys
import threading
from typing import Any, ClassVar

import pytest
from sqlalchemy import String, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, mapped_column, validates

from orm_kit import Manager, Model, MultipleObjectsReturned, NotFoundError, ValidationError
from orm_kit.model import snake_case
from orm_kit.query.meta import get_model_info
from tests.models import HTTPLog, Post, Product, User


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("User", "user"),
        ("UserProfile", "user_profile"),
        ("HTTPLog", "http_log"),
        ("APIKeyV2", "api_key_v2"),
        ("OAuth2Token", "o_auth2_token"),
    ],
)
def test_snake_case(name: str, expected: str) -> None:
    assert snake_case(name) == expected


def test_table_names_are_derived_unless_set() -> None:
    assert User.__tablename__ == "user"
    assert HTTPLog.__tablename__ == "http_log"

    class Explicit(Model):
        __tablename__ = "my_explicit_table"
        id: Mapped[int] = mapped_column(primary_key=True)

    assert Explicit.__table__.name == "my_explicit_table"
    Model.metadata.remove(Explicit.__table__)


def test_abstract_bases_get_no_table_and_pass_columns_down() -> None:
    class Named(Model):
        __abstract__ = True
        label: Mapped[str] = mapped_column(String(20))

    class Badge(Named):
        id: Mapped[int] = mapped_column(primary_key=True)

    assert not hasattr(Named, "__table__")
    assert Badge.__tablename__ == "badge"
    assert set(Badge.__table__.c.keys()) == {"id", "label"}
    Model.metadata.remove(Badge.__table__)


def test_per_model_exceptions() -> None:
    assert issubclass(User.DoesNotExist, NotFoundError)
    assert issubclass(User.MultipleObjectsReturned, MultipleObjectsReturned)
    assert User.DoesNotExist is not Post.DoesNotExist
    assert not issubclass(User.DoesNotExist, Post.DoesNotExist)
    assert User.DoesNotExist.__qualname__ == "User.DoesNotExist"


def test_naming_convention_names_constraints() -> None:
    names = {c.name for c in Product.__table__.constraints}
    assert {"pk_product", "uq_product_sku_region", "ck_product_price_positive"} <= names
    assert {fk.constraint.name for fk in Post.__table__.foreign_keys} == {"fk_post_author_id_user"}


def test_managers_bind_to_their_model() -> None:
    assert User.objects.model is User
    assert Post.objects.model is Post
    assert User.objects is User.objects  # bound once, cached
    assert isinstance(User.active, Manager)
    assert repr(User.objects) == "<Manager User.objects>"


def test_abstract_model_cannot_be_queried() -> None:
    with pytest.raises(ValidationError, match="abstract"):
        Model.objects.filter()


def test_model_with_its_own_manager_keeps_objects() -> None:
    class Custom(Manager[Any]):
        pass

    class Gadget(Model):
        id: Mapped[int] = mapped_column(primary_key=True)
        things: ClassVar[Manager[Any]] = Custom()

    assert isinstance(Gadget.things, Custom)
    assert Gadget.things.model is Gadget
    assert Gadget.objects.model is Gadget
    Model.metadata.remove(Gadget.__table__)


def test_constructor_sets_plain_columns_and_tracks_later_changes() -> None:
    user = User(email="a@x.io", name="Ann")
    User(email="warm@x.io")  # second construction takes the fast path
    again = User(email="b@x.io", name="Bob")
    for obj in (user, again):
        state = sa_inspect(obj)
        assert state.transient
        assert obj.name in ("Ann", "Bob")
    again.name = "Robert"
    assert sa_inspect(again).attrs.name.history.added == ["Robert"]
    with pytest.raises(ValidationError, match="nickname"):
        User(email="c@x.io", nickname="c")


def test_constructed_instances_make_their_state_on_first_use() -> None:
    User(email="warm@x.io")  # the first construction computes the model facts
    user = User(email="a@x.io", name="Ann")
    assert "_sa_instance_state" not in vars(user)
    assert user.name == "Ann"
    user.name = "Anne"  # the first write makes the state, then records the change
    state = vars(user)["_sa_instance_state"]
    assert state.transient and state.attrs.name.history.added == ["Anne"]
    assert sa_inspect(user) is state
    assert not hasattr(User, "_sa_instance_state")  # nothing on the class itself
    fresh = User(email="b@x.io")
    assert sa_inspect(copy.copy(fresh)) is not sa_inspect(fresh)


def test_constructor_honours_validators_custom_init_and_init_events() -> None:
    class Strict(Model):
        id: Mapped[int] = mapped_column(primary_key=True)
        code: Mapped[str] = mapped_column(String(10))

        @validates("code")
        def _upper(self, key: str, value: str) -> str:
            return value.upper()

    class Custom(Model):
        id: Mapped[int] = mapped_column(primary_key=True)
        label: Mapped[str] = mapped_column(String(10))

        def __init__(self, **values: Any) -> None:
            values.setdefault("label", "default")
            super().__init__(**values)

    seen: list[str] = []

    class Watched(Model):
        id: Mapped[int] = mapped_column(primary_key=True)
        label: Mapped[str] = mapped_column(String(10))

    event.listen(Watched, "init", lambda target, args, kwargs: seen.append(kwargs["label"]))
    try:
        for _ in range(2):  # the first call computes the model facts, the second uses them
            assert Strict(code="ab").code == "AB"
            assert Custom().label == "default"
            assert Watched(label="w").label == "w"
        assert seen == ["w", "w"]
    finally:
        for model in (Strict, Custom, Watched):
            Model.metadata.remove(model.__table__)


def test_threads_making_the_same_states_agree() -> None:
    """Threads that touch the same not-yet-made states all get the one, complete state."""
    info = get_model_info(User)
    objs = info.build_all(("id", "email"), [(i, f"{i}@x.io") for i in range(1, 20_001)])
    problems: list[str] = []
    seen: dict[int, list[object]] = {}

    def touch(n: int) -> None:
        states = []
        for obj in objs:
            try:
                state = sa_inspect(obj)
            except Exception as exc:  # any failure is a bug
                problems.append(repr(exc))
                continue
            if state.key is None:
                problems.append("a loaded row looked transient")
            states.append(state)
        seen[n] = states

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=touch, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert problems == []
    final = [sa_inspect(obj) for obj in objs]
    assert all(seen[n] == final for n in seen)  # every thread got the published state
