"""Async iteration over `nextCursor` pages and bounded-concurrency fan-out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

from layers_tui.models import Page

T = TypeVar("T")
R = TypeVar("R")


async def follow_pages(
    fetch: Callable[[str | None], Awaitable[Page[Any]]],
) -> AsyncIterator[Page[Any]]:
    """Yield pages until `nextCursor` is null or missing (treated alike) or repeats."""
    cursor: str | None = None
    seen: set[str] = set()
    while True:
        page = await fetch(cursor)
        yield page
        cursor = page.next_cursor
        if cursor is None or cursor in seen:
            return
        seen.add(cursor)


async def collect_pages(fetch: Callable[[str | None], Awaitable[Page[Any]]]) -> Page[Any]:
    items: list[Any] = []
    invalid: list[Any] = []
    async for page in follow_pages(fetch):
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
