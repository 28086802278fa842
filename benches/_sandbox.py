"""Start a sandbox in its own process (so it does not share the client's GIL)."""

from __future__ import annotations

import multiprocessing
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

# A made-up key for the benches' own sandbox, assembled so no key-shaped literal is committed.
KEY = "_".join(("lp", "test", "BENCHKEY00000001", "benchmark-secret-not-a-real-key-000000000"))


def _serve(port: int, options: dict) -> None:
    import uvicorn

    from layers_tui.sandbox import create_app

    # Benches measure the client, not the budget: partner tier unless a bench asks otherwise.
    app = create_app(api_keys=[KEY], **{"tier": "partner", **options})
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def sandbox_process(**options) -> Iterator[str]:
    port = free_port()
    process = multiprocessing.Process(target=_serve, args=(port, options), daemon=True)
    process.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/v1/whoami", headers={"X-Api-Key": KEY}, timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    try:
        yield base
    finally:
        process.terminate()
        process.join(5)


LISTS = ("/social-accounts", "/ad-accounts")


def append_line(path: str, line: str) -> None:
    """A sandbox's request log (its `log_requests`), one line per request, in a file."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def list_requests(log: Path) -> int:
    """Project-list and account-list requests in such a log."""
    if not log.exists():
        return 0
    count = 0
    for line in log.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        path = parts[1] if len(parts) > 1 else ""
        if path.endswith(LISTS) or path.rstrip("/") == "/v1/projects":
            count += 1
    return count
