"""FastAPI integration (the ``fastapi`` extra): lifespans, the request's ambient session,
exception handlers, the health route, the acting user, filters and page responses.

```python
app = FastAPI(lifespan=lifespan)
install_exception_handlers(app)
app.include_router(health_router)

@app.post("/users", status_code=201, response_model=UserRead)
async def create_user(payload: UserCreate, session: SessionDep) -> User:
    return await User.objects.create(**payload.model_dump())   # committed before the 201
```
"""

from orm_kit.contrib.fastapi.errors import ErrorResponse, error_response, install_exception_handlers
from orm_kit.contrib.fastapi.filters import FilterDependency, filter_params
from orm_kit.contrib.fastapi.health import DatabaseHealth, health_router
from orm_kit.contrib.fastapi.pagination import KeysetPage, OffsetPage
from orm_kit.contrib.fastapi.sessions import (
    SessionDep,
    actor_dependency,
    get_session,
    lifespan,
    make_lifespan,
    request_database,
)

__all__ = [
    "DatabaseHealth",
    "ErrorResponse",
    "FilterDependency",
    "KeysetPage",
    "OffsetPage",
    "SessionDep",
    "actor_dependency",
    "error_response",
    "filter_params",
    "get_session",
    "health_router",
    "install_exception_handlers",
    "lifespan",
    "make_lifespan",
    "request_database",
]
