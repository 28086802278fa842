"""Async iteration over `nextCursor` pages and bounded-concurrency fan-out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

from layers_tui.models import Page

from .errors import ApiError

T = TypeVar("T")
R = TypeVar("R")

MAX_PAGES = 1_000  # 200,000 rows at the usual page size of 200
MAX_SECONDS = 300.0  # for the whole list, every page and retry included


class PaginationLimitError(ApiError):
    """A list whose cursors never ended within the page or time bound: the result is cut."""

    def __init__(self, what: str, pages: int, reason: str) -> None:
        super().__init__(
            None,
            "PAGINATION_LIMIT",
            f"{what} did not end after {pages} pages ({reason}); the list is incomplete",
            details={"list": what, "pages": pages},
        )
        self.what = what
        self.pages = pages


async def follow_pages(
    fetch: Callable[[str | None], Awaitable[Page[Any]]],
    *,
    what: str = "a paginated list",
    max_pages: int | None = None,
    max_seconds: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> AsyncIterator[Page[Any]]:
    """Yield pages until `nextCursor` is null or missing (treated alike) or repeats.

    A list that keeps handing out new cursors raises `PaginationLimitError` (naming `what`)
    after `max_pages` pages (default `MAX_PAGES`) or once `max_seconds` (default
    `MAX_SECONDS`) have passed since the first request."""
    page_limit = MAX_PAGES if max_pages is None else max_pages
    time_limit = MAX_SECONDS if max_seconds is None else max_seconds
    cursor: str | None = None
    seen: set[str] = set()
    started = monotonic()
    pages = 0
    while True:
        page = await fetch(cursor)
        pages += 1
        yield page
        cursor = page.next_cursor
        if cursor is None or cursor in seen:
            return
        seen.add(cursor)
        if pages >= page_limit:
            raise PaginationLimitError(what, pages, f"limit {page_limit} pages")
        if monotonic() - started >= time_limit:
            raise PaginationLimitError(what, pages, f"limit {time_limit:g} s")


async def collect_pages(
    fetch: Callable[[str | None], Awaitable[Page[Any]]],
    *,
    what: str = "a paginated list",
    max_pages: int | None = None,
    max_seconds: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> Page[Any]:
    """Every page merged into one; raises `PaginationLimitError` as `follow_pages` does."""
    items: list[Any] = []
    invalid: list[Any] = []
    pages = follow_pages(
        fetch, what=what, max_pages=max_pages, max_seconds=max_seconds, monotonic=monotonic
    )
    async for page in pages:
        items.extend(page.items)
        invalid.extend(page.invalid)
    return Page[Any](items=items, invalid=invalid)


async def fan_out(
    inputs: Iterable[T], work: Callable[[T], Awaitable[R]], limit: int
) -> AsyncIterator[tuple[T, R | BaseException]]:
    """Run `work` over `inputs` with at most `limit` in flight; yield (input, result or
    exception) as each finishes, so one failure never hides the others."""
    semaphore = asyncio.Semaphore(max(1, limit))

    async def run(item: T) -> tuple[T, R | BaseException]:
        async with semaphore:
            try:
                return item, await work(item)
            except Exception as error:  # reported per item, never raised for the batch
                return item, error

    tasks = [asyncio.ensure_future(run(item)) for item in inputs]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        for task in tasks:
            task.cancel()
