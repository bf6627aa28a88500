"""A small FastAPI application on orm_kit.contrib.fastapi, shared by the FastAPI tests."""
