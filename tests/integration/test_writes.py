"""Bulk and set-based writes: bulk_create, bulk_update, update, delete, get_or_create."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import JSON, event, insert, inspect, text

from orm_kit import ConflictError, Database, F, Q, ValidationError
from tests.backends import supports
from tests.models import Invoice, Product, User


async def raw_count(db: Database, table: str) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(text(f'SELECT count(*) FROM "{table}"'))).scalar_one())


async def test_bulk_create_sets_primary_keys_and_defaults(db: Database) -> None:
    users = [User(email=f"u{i}@x.io", name=f"U{i}") for i in range(250)]
    created = await User.objects.bulk_create(users, batch_size=100)
    assert all(a is b for a, b in zip(created, users, strict=True))
    assert len({u.id for u in users}) == 250
    assert all(u.is_active is True for u in users)  # defaults read back
    assert await raw_count(db, "user") == 250
    by_id = await User.objects.in_bulk([users[0].id, users[-1].id])
    assert by_id[users[-1].id].email == "u249@x.io"


async def test_bulk_create_rows_with_different_columns_keep_list_order(db: Database) -> None:
    users = [
        User(email="a@x.io"),
        User(email="b@x.io", age=3, name="B"),
        User(email="c@x.io", is_active=False),
    ]
    await User.objects.bulk_create(users)
    assert [u.age for u in users] == [None, 3, None]
    assert [u.name for u in users] == ["", "B", ""]  # the column default, filled client-side
    assert users[0].id < users[1].id < users[2].id
    assert await User.objects.filter(age__isnull=True).count() == 2
    assert await User.objects.filter(is_active=False).values_list("email", flat=True) == ["c@x.io"]


async def test_bulk_create_ignore_conflicts(db: Database) -> None:
    await Product.objects.create(sku="A", region="eu", price=1)
    await Product.objects.bulk_create(
        [Product(sku="A", region="eu", price=9), Product(sku="B", region="eu", price=2)],
        ignore_conflicts=True,
    )
    rows = await Product.objects.order_by("sku").values_list("sku", "price")
    assert rows == [("A", 1), ("B", 2)]


async def test_bulk_create_update_conflicts(db: Database) -> None:
    await Product.objects.create(sku="A", region="eu", price=1, stock=5)
    await Product.objects.bulk_create(
        [Product(sku="A", region="eu", price=9, stock=0), Product(sku="C", region="us", price=3)],
        update_conflicts=True,
        unique_fields=["sku", "region"],
        update_fields=["price"],
    )
    rows = await Product.objects.order_by("sku").values_list("sku", "price", "stock")
    assert rows == [("A", 9, 5), ("C", 3, 0)]
    with pytest.raises(ValidationError, match="unique_fields"):
        await Product.objects.bulk_create([Product(sku="D")], update_conflicts=True)


async def test_bulk_create_conflict_writes_nothing(db: Database) -> None:
    await User.objects.create(email="dup@x.io")
    with pytest.raises(ConflictError) as info:
        await User.objects.bulk_create([User(email="new@x.io"), User(email="dup@x.io")])
    assert info.value.constraint == "uq_user_email"
    assert await raw_count(db, "user") == 1


async def test_bulk_update_writes_only_named_fields(db: Database) -> None:
    users = await User.objects.bulk_create([User(email=f"u{i}@x.io", age=i) for i in range(5)])
    for user in users:
        user.name = f"renamed{user.age}"
        user.score = 100  # not in fields: must not be written
    assert await User.objects.bulk_update(users, ["name"], batch_size=2) == 5
    rows = await User.objects.order_by("age").values_list("name", "score")
    assert rows == [(f"renamed{i}", 0) for i in range(5)]
    with pytest.raises(ValidationError):
        await User.objects.bulk_update(users, ["id"])


async def test_update_with_f_and_q_returns_rowcount(db: Database) -> None:
    await User.objects.bulk_create(
        [
            User(email=f"u{i}@x.io", name=n, age=a, score=1)
            for i, (n, a) in enumerate([("ann", 20), ("bob", 70), ("al", 30), ("cy", 10)])
        ]
    )
    n = await User.objects.filter(Q(name__istartswith="a") | Q(age__gt=60)).update(
        score=F("score") + 1
    )
    assert n == 3
    rows = await User.objects.order_by("name").values_list("name", "score")
    assert rows == [("al", 2), ("ann", 2), ("bob", 2), ("cy", 1)]


async def test_update_and_delete_refuse_slices(db: Database) -> None:
    with pytest.raises(ValidationError, match="sliced"):
        await User.objects.all()[:2].update(score=1)
    with pytest.raises(ValidationError, match="sliced"):
        await User.objects.all()[:2].delete()


async def test_queryset_delete(db: Database) -> None:
    await User.objects.bulk_create([User(email=f"u{i}@x.io", age=i) for i in range(6)])
    assert await User.objects.filter(age__gte=4).delete() == 2
    assert await raw_count(db, "user") == 4


async def test_get_or_create(db: Database) -> None:
    user, created = await User.objects.get_or_create(email="a@x.io", defaults={"name": "A"})
    assert created and user.name == "A"
    again, created = await User.objects.get_or_create(email="a@x.io", defaults={"name": "B"})
    assert not created and again.id == user.id and again.name == "A"


async def test_get_or_create_concurrent_callers_share_one_row(db: Database) -> None:
    results = await asyncio.gather(
        *(User.objects.get_or_create(email="race@x.io", defaults={"name": "R"}) for _ in range(8))
    )
    assert len({obj.id for obj, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert await raw_count(db, "user") == 1


@pytest.mark.requires("concurrent_writers")
async def test_get_or_create_in_a_session_finds_a_row_committed_since_its_snapshot(
    db: Database,
) -> None:
    async with db.session():
        assert await User.objects.count() == 0  # MariaDB's REPEATABLE READ snapshot: now
        async with db.engine.begin() as other:  # another connection commits the row
            await other.execute(insert(User.__table__).values(email="late@x.io", name="L"))
        obj, created = await User.objects.get_or_create(email="late@x.io")
        assert (obj.name, created) == ("L", False)


async def test_update_or_create(db: Database) -> None:
    user, created = await User.objects.update_or_create(
        email="a@x.io", defaults={"name": "A"}, create_defaults={"name": "Created"}
    )
    assert created and user.name == "Created"
    user, created = await User.objects.update_or_create(email="a@x.io", defaults={"name": "A2"})
    assert not created and user.name == "A2"
    assert (await User.objects.get(email="a@x.io")).name == "A2"


async def snapshot_users(db: Database) -> list[tuple[object, ...]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text('SELECT id, email, name FROM "user" ORDER BY id'))
        return [tuple(r) for r in rows]


async def test_get_or_create_on_a_taken_key_reraises_the_conflict(db: Database) -> None:
    await User.objects.create(id=1, email="a@x.io", name="Ann")
    before = await snapshot_users(db)
    with pytest.raises(ConflictError) as info:  # row 1 exists with another name
        await User.objects.get_or_create(id=1, name="x", defaults={"email": "x@x.io"})
    assert info.value.kind == "unique"
    with pytest.raises(ConflictError) as info:  # a taken unique email, other lookups
        await User.objects.get_or_create(email="a@x.io", name="Other")
    assert info.value.constraint == "uq_user_email"
    with pytest.raises(ConflictError):
        await User.objects.update_or_create(id=1, email="b@x.io", defaults={"name": "B"})
    with pytest.raises(ConflictError):
        await User.objects.update_or_create(
            email="a@x.io", name="Other", create_defaults={"score": 5}
        )
    assert await snapshot_users(db) == before


async def test_get_or_create_conflict_inside_a_session_keeps_the_session_usable(
    db: Database,
) -> None:
    await User.objects.create(id=1, email="a@x.io", name="Ann")
    async with db.session():
        with pytest.raises(ConflictError):
            await User.objects.get_or_create(id=1, name="x", defaults={"email": "x@x.io"})
        with pytest.raises(ConflictError):
            await User.objects.update_or_create(id=1, email="b@x.io", defaults={"name": "B"})
        # The savepoint was rolled back; the session goes on and commits.
        await User.objects.create(id=2, email="c@x.io", name="Cy")
        assert await User.objects.count() == 2
    assert await snapshot_users(db) == [(1, "a@x.io", "Ann"), (2, "c@x.io", "Cy")]


async def test_large_bulk_create_is_exact_on_every_path(db: Database) -> None:
    """Big batches go through COPY on PostgreSQL (keys from the sequence) and through
    multi-row INSERT ... RETURNING elsewhere; both give the same loaded instances."""
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        products = [Product(sku=f"S{i:05d}", price=i % 7) for i in range(1500)]
        await Product.objects.bulk_create(products)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    ids = [p.id for p in products]
    assert ids == sorted(ids)
    assert len(set(ids)) == 1500
    assert all(p.region == "eu" and p.stock == 0 for p in products)  # defaults loaded
    assert await raw_count(db, "product") == 1500
    assert (await Product.objects.get(id=products[42].id)).sku == "S00042"
    used_copy = not any(s.lstrip().upper().startswith("INSERT") for s in statements)
    assert used_copy == supports(db.dialect, "copy_bulk_insert")
    # A later insert continues the sequence after the copied keys.
    assert (await Product.objects.create(sku="next")).id > max(ids)


async def test_large_bulk_create_conflict_writes_nothing(db: Database) -> None:
    products = [Product(sku=f"S{i:05d}") for i in range(1200)]
    products.append(Product(sku="S00007"))  # duplicate (sku, region)
    with pytest.raises(ConflictError) as info:
        await Product.objects.bulk_create(products)
    assert info.value.constraint == "uq_product_sku_region"
    assert await raw_count(db, "product") == 0
    # Nothing was written, so no instance keeps a key (COPY draws them before writing).
    assert all(p.id is None and inspect(p).transient for p in products)


async def test_failed_bulk_create_leaves_earlier_batches_unsaved(db: Database) -> None:
    """A failure in a later batch rolls the earlier ones back; their instances, filled
    from RETURNING before the failure, become unsaved again."""
    products = [Product(sku=f"B{i}") for i in range(5)]
    products.append(Product(sku="B1"))  # duplicate, in the last batch
    with pytest.raises(ConflictError):
        await Product.objects.bulk_create(products, batch_size=2)
    assert await raw_count(db, "product") == 0
    assert all(p.id is None and inspect(p).transient for p in products)
    await Product.objects.bulk_create(products[:5])  # and they can be saved afterwards
    assert sorted(p.sku for p in await Product.objects.all()) == [f"B{i}" for i in range(5)]


async def test_large_bulk_create_converts_values_like_insert(db: Database) -> None:
    users = [
        User(email=f"u{i}@x.io", is_active=i % 2 == 0, data={"n": i, "tags": ["a", "b"]})
        for i in range(1100)
    ]
    del users[5].data  # left unset: SQL NULL
    users[6].data = None  # SQL NULL too, as in Django
    users[8].data = JSON.NULL  # a JSON null on purpose
    await User.objects.bulk_create(users)
    back = await User.objects.in_bulk([users[4].id, users[5].id, users[7].id])
    assert back[users[4].id].data == {"n": 4, "tags": ["a", "b"]}
    assert back[users[5].id].data is None
    assert await User.objects.filter(data__isnull=True).count() == 2
    assert await User.objects.filter(data__isnull=True, id=users[8].id).count() == 0
    assert back[users[7].id].is_active is False
    assert await User.objects.filter(is_active=True).count() == 550
    assert await User.objects.filter(data__n__gte=1000).count() == 100
    assert all(u.id for u in users)


async def test_failed_bulk_create_in_a_session_undoes_its_batches_only(db: Database) -> None:
    """Inside a session the call runs under a savepoint: a failing batch undoes the earlier
    ones (SQLite would keep them), the instances are unsaved, and the session goes on."""
    async with db.session():
        await Product.objects.create(sku="kept")
        products = [Product(sku="C1"), Product(sku="C2"), Product(sku="kept")]
        with pytest.raises(ConflictError):
            await Product.objects.bulk_create(products, batch_size=1)
        assert all(p.id is None for p in products)
        products[2].sku = "C3"
        await Product.objects.bulk_create(products)
    assert sorted(await Product.objects.values_list("sku", flat=True)) == ["C1", "C2", "C3", "kept"]


async def test_update_right_sides_see_the_row_before_the_update(db: Database) -> None:
    """Every right side of one update() reads the old row (the SQL standard), also on
    MariaDB / MySQL, which assign SET clauses left to right: there orm_kit orders the SET so
    a column read by another assignment is assigned after it, or reads a self-join's copy of
    the row when the assignments read each other (a swap)."""
    await User.objects.bulk_create(
        [User(email=f"u{i}@x.io", age=i, score=10 * i) for i in (1, 2, 3)]
    )
    users = User.objects.order_by("id")

    async def rows() -> list[tuple[object, ...]]:
        return await users.values_list("age", "score")

    # age reads score, which the same call sets; and in the column order the other way round.
    assert await users.update(score=F("score") + 1, age=F("score")) == 3
    assert await rows() == [(10, 11), (20, 21), (30, 31)]
    assert await users.update(age=0, score=F("age")) == 3
    assert await rows() == [(0, 10), (0, 20), (0, 30)]
    # A swap: each side reads the other (no order is right: the self-join form).
    a, b, c = await users.values_list("id", flat=True)
    assert await users.filter(score__gte=20).update(age=F("score"), score=F("age")) == 2
    assert await rows() == [(0, 10), (20, 0), (30, 0)]
    # A cycle of three (the key too) plus a filter on a column the update changes.
    big = 10**6
    assert (
        await users.filter(age__lt=25).update(
            age=F("score") + 0, score=F("id") * 100, id=F("age") + big
        )
        == 2
    )
    assert await users.values_list("id", "age", "score") == [
        (c, 30, 0),
        (big, 10, a * 100),
        (big + 20, 0, b * 100),
    ]
    # Inside a unit of work (the ORM-enabled statement), and on a timestamped model (its
    # onupdate column joins the SET).
    async with db.session():
        assert await users.update(age=F("score"), score=F("age")) == 3
    assert await rows() == [(0, 30), (a * 100, 10), (b * 100, 0)]
    invoice = await Invoice.objects.create(number="1", amount=5)
    await Invoice.objects.filter(id=invoice.id).update(number="7", amount=F("amount") * 2)
    found = await Invoice.objects.get(id=invoice.id)
    assert (found.number, found.amount) == ("7", 10)
    assert found.updated_at > invoice.updated_at
