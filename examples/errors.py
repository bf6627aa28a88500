"""Errors: every failure is an ORMKitError subclass with a message that says what to fix."""

import asyncio

from sqlalchemy import CheckConstraint, ForeignKey, String, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import (
    ConflictError,
    Database,
    DatabaseError,
    DatabaseUnavailableError,
    InvalidLookupError,
    Model,
    MultipleObjectsReturned,
    NotFoundError,
    ORMKitError,
    Repository,
    ValidationError,
    get_database,
)


# --8<-- [start:model]
class Supplier(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    country: Mapped[str] = mapped_column(String(2))


class Shipment(Model):
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"))
    quantity: Mapped[int]


# --8<-- [end:model]


async def main() -> None:
    async with Database() as db:
        await db.reset()
        acme = await Supplier.objects.create(email="acme@example.com", country="DE")
        await Supplier.objects.create(email="globex@example.com", country="DE")

        # --8<-- [start:not_found]
        try:
            await Shipment.objects.get(id=42)
        except Shipment.DoesNotExist as exc:  # per-model class, subclass of NotFoundError
            print(f"DoesNotExist:            {exc}")
        try:
            await Supplier.objects.get(country="DE")
        except MultipleObjectsReturned as exc:  # Supplier.MultipleObjectsReturned works too
            print(f"MultipleObjectsReturned: {exc}")
        try:
            await Supplier.objects.get_or_raise(999)
        except NotFoundError as exc:  # catches every model's DoesNotExist
            print(f"NotFoundError:           {type(exc).__qualname__}")
        print(f"get_by -> None:          {await Supplier.objects.get_by(email='x@example.com')}")
        # --8<-- [end:not_found]

        # --8<-- [start:conflict]
        try:
            await Supplier.objects.create(email="acme@example.com", country="FR")
        except ConflictError as exc:
            print(f"unique:      kind={exc.kind} constraint={exc.constraint}")
        try:
            await Shipment.objects.create(supplier_id=acme.id, quantity=0)
        except ConflictError as exc:
            print(f"check:       kind={exc.kind} constraint={exc.constraint}")
        try:
            await Shipment.objects.create(supplier_id=999, quantity=1)
        except ConflictError as exc:
            # exc.constraint: fk_shipment_supplier_id_supplier on PostgreSQL; SQLite does not
            # name the foreign key, so None there.
            print(f"foreign key: kind={exc.kind}")
        try:
            await Supplier.objects.create(email="x@example.com")  # country left unset
        except ConflictError as exc:
            print(f"not null:    kind={exc.kind}")
            summary = str(exc).split(": ", 1)[0]  # then the driver's words, which differ
            print(f"message:     {summary}: ...")
            # The driver's error, wrapped by SQLAlchemy: IntegrityError on SQLite and
            # PostgreSQL, OperationalError on MariaDB (error 1364).
            print(f"__cause__:   a DBAPIError: {isinstance(exc.__cause__, DBAPIError)}")
        # --8<-- [end:conflict]

        # --8<-- [start:invalid_lookup]
        try:
            Supplier.objects.filter(emial="acme@example.com")
        except InvalidLookupError as exc:  # raised while building the query, before any SQL
            print(f"InvalidLookupError: {exc}")
        try:
            Supplier.objects.filter(email__like="acme%")
        except InvalidLookupError as exc:
            print(f"InvalidLookupError: {str(exc)[:70]}...")
        # --8<-- [end:invalid_lookup]

        # --8<-- [start:validation]
        try:
            await Supplier.objects.create(email="y@example.com", country="US", rating=5)
        except ValidationError as exc:
            print(f"ValidationError: {exc}")
        try:
            Supplier.objects.filter(country__gt=None)
        except ValidationError as exc:
            print(f"ValidationError: {exc}")
        try:
            acme.update(name="ACME")
        except ValidationError as exc:
            print(f"ValidationError: {exc}")
        try:
            await Supplier.objects.values_list("id", "email", flat=True)
        except ValidationError as exc:
            print(f"ValidationError: {exc}")
        try:
            await Supplier.objects.create(email=42, country="US")
        except ValidationError as exc:
            print(f"ValidationError: {exc}")
        try:
            Supplier(**{"email": "z@example.com", "_sa_instance_state": None})
        except ValidationError as exc:
            print(f"ValidationError: {exc}")
        try:
            Supplier.objects.all()[-1:]
        except ValueError as exc:  # Python's own error, as for lists
            print(f"ValueError:      {exc}")
        # --8<-- [end:validation]

        # --8<-- [start:database]
        try:
            get_database("analytics")
        except DatabaseUnavailableError as exc:
            print(f"DatabaseUnavailableError: {exc}")
        try:
            await Repository(Supplier).execute(text("SELECT nope FROM supplier"))
        except DatabaseError as exc:  # cause: OperationalError (SQLite), ProgrammingError (PG)
            cause = exc.__cause__
            print(
                f"DatabaseError:            cause is a DBAPIError: {isinstance(cause, DBAPIError)}"
            )
        # --8<-- [end:database]

        # --8<-- [start:base]
        try:
            await Shipment.objects.get(id=42)
        except ORMKitError as exc:  # the root of the tree
            print(f"ORMKitError catches:      {type(exc).__qualname__}")
        # --8<-- [end:base]


if __name__ == "__main__":
    asyncio.run(main())
