"""Models several test modules share; a model only one module uses lives in that module."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Numeric,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orm_kit import Manager, Model, QuerySet
from orm_kit.mixins import (
    AuditMixin,
    ReadOnlyMixin,
    SoftDeleteMixin,
    TimestampMixin,
    UUIDPrimaryKeyMixin,
)


class ActiveManager(Manager[Any]):
    """Only active users."""

    def get_queryset(self) -> QuerySet[Any]:
        return super().get_queryset().filter(is_active=True)


class User(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    age: Mapped[int | None]
    score: Mapped[int] = mapped_column(default=0)
    last_login: Mapped[datetime | None]
    seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    birthday: Mapped[date | None]
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    active: ClassVar[Manager[Any]] = ActiveManager()

    posts: Mapped[list[Post]] = relationship(back_populates="author")


class Post(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(200))
    views: Mapped[int] = mapped_column(default=0)
    likes: Mapped[int] = mapped_column(default=0)
    rating: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))

    author: Mapped[User] = relationship(back_populates="posts")
    tags: Mapped[list[Tag]] = relationship(secondary="post_tag", back_populates="posts")
    comments: Mapped[list[Comment]] = relationship(back_populates="post")


post_tag = Table(
    "post_tag",
    Model.metadata,
    Column("post_id", ForeignKey("post.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True),
)


class Tag(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    color: Mapped[str] = mapped_column(String(20), default="grey")

    posts: Mapped[list[Post]] = relationship(secondary="post_tag", back_populates="tags")


class Comment(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    body: Mapped[str] = mapped_column(String(200), default="")

    post: Mapped[Post] = relationship(back_populates="comments")
    author: Mapped[User | None] = relationship()


class Product(Model):
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_positive"),
        UniqueConstraint("sku", "region"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(8), default="eu")
    price: Mapped[int] = mapped_column(default=0)
    stock: Mapped[int] = mapped_column(default=0)


class HTTPLog(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(200))


# --- mixins ------------------------------------------------------------------------------


class Invoice(Model, UUIDPrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, AuditMixin):
    number: Mapped[str] = mapped_column(String(32), unique=True)
    paid: Mapped[bool] = mapped_column(default=False)
    amount: Mapped[int] = mapped_column(default=0)


class Country(Model, ReadOnlyMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(2))


class Shop(Model, SoftDeleteMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    orders: Mapped[list[Order]] = relationship(back_populates="shop")


class Order(Model, SoftDeleteMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    total: Mapped[int] = mapped_column(default=0)
    shop: Mapped[Shop] = relationship(back_populates="orders")
