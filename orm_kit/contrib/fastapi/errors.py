"""orm_kit errors as HTTP responses: one JSON shape, no SQL and no bound values."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from orm_kit.exceptions import (
    ConflictError,
    DatabaseUnavailableError,
    InvalidLookupError,
    NotFoundError,
    ORMKitError,
    ValidationError,
)

__all__ = ["ErrorResponse", "error_response", "install_exception_handlers"]

logger = logging.getLogger("orm_kit.contrib.fastapi")

# The status of each error class; the first class in this order that an error is an instance
# of decides (Model.DoesNotExist is a NotFoundError).
STATUS: tuple[tuple[type[ORMKitError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (ValidationError, 422),
    (InvalidLookupError, 422),
    (DatabaseUnavailableError, 503),
)

UNAVAILABLE_DETAIL = "The database is unavailable; try again later."
INTERNAL_DETAIL = "The server could not complete the request."


class ErrorResponse(BaseModel):
    """The body of every response the handlers send.

    ``error`` is the orm_kit error class the status stands for (``NotFoundError`` also for
    ``User.DoesNotExist``); ``constraint`` and ``kind`` are set for ``ConflictError``.
    """

    detail: str
    error: str
    constraint: str | None = None
    kind: str | None = None


def _conflict_detail(exc: ConflictError) -> str:
    # Built from the constraint's name and kind only: the driver's text (kept on the error's
    # __cause__) can quote the conflicting values.
    label = {
        "unique": "A unique constraint",
        "foreign_key": "A foreign-key constraint",
        "not_null": "A NOT NULL constraint",
        "check": "A check constraint",
    }.get(exc.kind, "An integrity constraint")
    named = f" ({exc.constraint})" if exc.constraint else ""
    return f"{label}{named} was violated; nothing was saved. Change the conflicting values."


def error_response(exc: ORMKitError) -> JSONResponse:
    """The response ``install_exception_handlers`` sends for ``exc``.

    404 / 422 carry orm_kit's message (it names models, fields and filters, never bound
    values); 409 a sentence built from the constraint's name and kind alone (the driver's
    text can quote the conflicting value); 503 and the 500 of any other orm_kit error a
    fixed sentence, since what went wrong inside is the server's business, not the
    client's (the log has it).
    """
    cls, status = next(
        ((cls, status) for cls, status in STATUS if isinstance(exc, cls)), (ORMKitError, 500)
    )
    if isinstance(exc, ConflictError):
        body = ErrorResponse(
            detail=_conflict_detail(exc),
            error="ConflictError",
            constraint=exc.constraint,
            kind=exc.kind,
        )
    elif status == 503:
        body = ErrorResponse(detail=UNAVAILABLE_DETAIL, error=cls.__name__)
    elif status == 500:
        body = ErrorResponse(detail=INTERNAL_DETAIL, error="InternalServerError")
    else:
        body = ErrorResponse(detail=str(exc), error=cls.__name__)
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ORMKitError):  # pragma: no cover - registered for ORMKitError only
        raise exc
    response = error_response(exc)
    if response.status_code >= 500:
        logger.error(
            "%s %s failed: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
            exc_info=response.status_code == 500,
        )
    return response


def install_exception_handlers(app: FastAPI) -> None:
    """Answer orm_kit errors raised by endpoints (and by the commit of ``SessionDep``).

    ``NotFoundError`` → 404, ``ConflictError`` → 409 (with ``constraint`` and ``kind``),
    ``ValidationError`` / ``InvalidLookupError`` → 422, ``DatabaseUnavailableError`` → 503
    (with ``Retry-After``), any other ``ORMKitError`` → 500 with a generic body (logged
    with its traceback on the ``orm_kit.contrib.fastapi`` logger). Bodies are
    ``ErrorResponse``: ``{"detail": "...", "error": "ConflictError", "constraint": "..."}``.
    """
    app.add_exception_handler(ORMKitError, _handle)
