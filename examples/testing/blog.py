"""The models and factories of the example test suite (``test_blog.py``)."""

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Model
from orm_kit.mixins import SoftDeleteMixin, TimestampMixin
from orm_kit.testing.factories import ModelFactory


# --8<-- [start:models]
class Author(TimestampMixin, Model):
    __tablename__ = "blog_author"  # the other examples share the database; keep apart

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(50))


class Article(SoftDeleteMixin, Model):
    __tablename__ = "blog_article"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("blog_author.id"))
    title: Mapped[str] = mapped_column(String(80))


# --8<-- [end:models]


# --8<-- [start:factories]
class AuthorFactory(ModelFactory[Author]):
    pass


class ArticleFactory(ModelFactory[Article]):
    pass


# --8<-- [end:factories]
