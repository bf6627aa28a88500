"""Integrations with other libraries: ``orm_kit.contrib.pydantic`` (pydantic v2 schemas,
no extra needed) and ``orm_kit.contrib.fastapi`` (extra ``orm_kit[fastapi]``).

Each integration is a module of its own, imported only when used; the core never imports
this package.
"""
