"""Pydantic schemas from models: validate request bodies, write rows, render responses."""

# --8<-- [start:models]
import asyncio
import enum
import json
from decimal import Decimal

import pydantic
from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orm_kit import Database, Model, RelationNotLoadedError, schema_for
from orm_kit.mixins import TimestampMixin


class Level(enum.Enum):
    BEGINNER = "beginner"
    EXPERT = "expert"


class Trainer(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    courses: Mapped[list["Course"]] = relationship(back_populates="trainer")


class Course(Model, TimestampMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    trainer_id: Mapped[int] = mapped_column(ForeignKey("trainer.id"))
    title: Mapped[str] = mapped_column(String(20))
    level: Mapped[Level] = mapped_column(default=Level.BEGINNER)
    fee: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    notes: Mapped[str | None] = mapped_column(String(200))
    trainer: Mapped[Trainer] = relationship(back_populates="courses")


# --8<-- [end:models]

# --8<-- [start:schemas]
CourseCreate = schema_for(Course, "create")
CourseUpdate = schema_for(Course, "update")
CourseRead = schema_for(Course, "read")
CourseWithTrainer = schema_for(Course, include={"trainer"})
# --8<-- [end:schemas]


async def main() -> None:
    async with Database() as db:
        await db.reset()
        trainer = await Trainer.objects.create(name="Ada")

        # --8<-- [start:names]
        print(
            f"names:     {CourseCreate.__name__}, {CourseUpdate.__name__}, "
            f"{CourseRead.__name__}, {CourseWithTrainer.__name__}"
        )
        print(f"cached:    {schema_for(Course, 'create') is CourseCreate}")
        print(f"create:    {list(CourseCreate.model_fields)}")
        required = CourseCreate.model_json_schema()["required"]
        print(f"required:  {required}")
        # --8<-- [end:names]

        # --8<-- [start:create]
        body = {"trainer_id": trainer.id, "title": "SQL basics", "fee": "120.50"}
        payload = CourseCreate.model_validate_json(json.dumps(body))
        print(f"dump:      {payload.model_dump()}")
        course = await Course.objects.create(**payload.model_dump())
        print(f"created:   {course.title!r} level={course.level.value} fee={course.fee}")
        # --8<-- [end:create]

        # --8<-- [start:reject]
        for bad in (
            {"title": "A title much too long for it"},
            {"fee": "12345.678"},
            {"level": "guru"},
            {"created_at": "2024-01-01T00:00:00Z"},
        ):
            try:
                CourseCreate.model_validate({**body, **bad})
            except pydantic.ValidationError as exc:
                error = exc.errors()[0]
                print(f"rejected:  {error['loc'][0]}: {error['type']}")
        # --8<-- [end:reject]

        # --8<-- [start:update]
        patch = CourseUpdate.model_validate_json('{"level": "expert", "notes": null}')
        print(f"set:       {sorted(patch.model_fields_set)}")
        await course.update_from(patch).save()
        fresh = await Course.objects.get(pk=course.pk)
        print(f"updated:   {fresh.title!r} level={fresh.level.value} fee={fresh.fee}")
        # --8<-- [end:update]

        # --8<-- [start:read]
        loaded = await Course.objects.select_related("trainer").get(pk=course.pk)
        out = CourseWithTrainer.model_validate(loaded)
        shown = out.model_dump(mode="json", include={"title", "level", "fee", "trainer"})
        print(f"response:  {shown}")
        try:
            CourseWithTrainer.model_validate(fresh)  # trainer was not loaded
        except RelationNotLoadedError as exc:
            print(f"not loaded: {str(exc).split(',')[0]}")
        # --8<-- [end:read]

        # --8<-- [start:to_dict]
        data = fresh.to_dict(mode="json", exclude={"created_at", "updated_at"})
        print(f"to_dict:   {json.dumps(data)}")
        # --8<-- [end:to_dict]


if __name__ == "__main__":
    asyncio.run(main())
