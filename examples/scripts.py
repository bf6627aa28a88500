"""Scripts without asyncio: the blocking facade orm_kit.sync over the same models and managers."""

# --8<-- [start:model]
from contextlib import AbstractContextManager

from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import ConflictError, Database, Model, sync


class StockItem(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(default=0)


# --8<-- [end:model]


# --8<-- [start:seed]
def init_db() -> Database:
    """On start-up: connect the default database and create missing tables (idempotent)."""
    db = sync.connect()  # DATABASE_URL, else the SQLite default
    sync.run(db.create_all())
    return db


def get_db_context() -> AbstractContextManager[AsyncSession]:
    """A unit of work for a standalone script: commit at the end, rollback on error."""
    return sync.session()


# --8<-- [end:seed]


class OutOfStockError(Exception):
    pass


def main() -> None:
    db = init_db()
    sync.run(db.reset())  # the example starts from empty tables

    # --8<-- [start:autocommit]
    # Outside a block every call commits on its own, as in async code.
    sync.run(StockItem.objects.create(code="P1", name="Pencil", quantity=10))
    sync.run(StockItem.objects.bulk_create([StockItem(code="P2", name="Paper", quantity=3)]))
    items = sync.run(StockItem.objects.order_by("code"))  # a QuerySet: list[StockItem]
    print(f"items:        {[(i.code, i.quantity) for i in items]}")
    print(f"count:        {sync.run(StockItem.objects.filter(quantity__gt=5).count())}")
    # --8<-- [end:autocommit]

    # --8<-- [start:session]
    with get_db_context():  # sync.session(): every call inside uses one session
        pencil = sync.run(StockItem.objects.get(code="P1"))
        pencil.quantity -= 4
        sync.run(pencil.save())
        sync.run(StockItem.objects.create(code="P3", name="Eraser", quantity=7))
    stock = sync.run(StockItem.objects.order_by("code").values_list("code", "quantity"))
    print(f"committed:    {stock}")

    try:
        with sync.session(db):
            sync.run(StockItem.objects.filter(code="P2").update(quantity=0))
            raise OutOfStockError  # any exception rolls the whole block back
    except OutOfStockError:
        paper = sync.run(StockItem.objects.get(code="P2"))
        print(f"rolled back:  paper quantity={paper.quantity}")
    # --8<-- [end:session]

    # --8<-- [start:transaction]
    with sync.session(db):
        sync.run(StockItem.objects.create(code="P4", name="Ruler"))
        try:
            with sync.transaction():  # nested: a SAVEPOINT
                sync.run(StockItem.objects.create(code="P1", name="Pencil again"))
        except ConflictError as exc:
            print(f"savepoint:    {exc.kind} on {exc.constraint}; the ruler is kept")
    codes = sync.run(StockItem.objects.order_by("code").values_list("code", flat=True))
    print(f"codes:        {codes}")
    # --8<-- [end:transaction]

    # --8<-- [start:errors]
    try:
        sync.run(StockItem.objects.get(code="nope"))
    except StockItem.DoesNotExist as exc:  # the same orm_kit error as in async code
        print(f"not found:    {type(exc).__name__}")
    # --8<-- [end:errors]

    # --8<-- [start:close]
    sync.close()  # disconnect and stop the facade's thread (also runs at exit)
    # --8<-- [end:close]


if __name__ == "__main__":
    main()
