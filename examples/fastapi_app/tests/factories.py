"""Factories of the tests: random, valid rows (polyfactory, through orm_kit.testing)."""

from orm_kit.testing.factories import ModelFactory

from app.models import Post, User


class UserFactory(ModelFactory[User]):
    pass


class PostFactory(ModelFactory[Post]):
    pass
