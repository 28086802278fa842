"""Start a sandbox in its own process (so it does not share the client's GIL)."""

from __future__ import annotations

import multiprocessing
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

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
