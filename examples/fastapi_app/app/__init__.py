"""A small blog service on orm_kit and FastAPI: users, posts and tags."""
