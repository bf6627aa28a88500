"""Static typing checks of ``schema_for`` and the model's pydantic methods; never executed."""

from __future__ import annotations

from typing import Any, assert_type

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Model, schema_for
from orm_kit.contrib.pydantic import ReadSchema, SchemaMode, WriteSchema


class Pet(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


def check_schema_for(mode: SchemaMode) -> None:
    assert_type(schema_for(Pet), type[ReadSchema])
    assert_type(schema_for(Pet, "read", include={"x"}), type[ReadSchema])
    assert_type(schema_for(Pet, "create"), type[WriteSchema])
    assert_type(schema_for(Pet, "update", exclude={"name"}), type[WriteSchema])
    assert_type(schema_for(Pet, mode), type[ReadSchema] | type[WriteSchema])


def check_model_methods(pet: Pet) -> None:
    payload = schema_for(Pet, "update").model_validate({"name": "Rex"})
    assert_type(pet.update_from(payload), Pet)
    assert_type(pet.to_dict(mode="json"), dict[str, Any])
    assert_type(pet.to_dict(exclude={"id"}), dict[str, Any])
