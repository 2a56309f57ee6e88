"""Page parameters and page bodies shared by every list endpoint."""

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class PageParams(BaseModel):
    """Offset pagination."""

    limit: int = 50
    offset: int = 0


class Page(BaseModel, Generic[T]):
    """A page of results and the total count."""

    items: list[T]
    total: int
    limit: int
    offset: int
