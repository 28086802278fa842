"""Issue 12: a Prometheus scrape of a store holding 2,000 projects x 20 accounts.

Times what one `GET /metrics` does (read the store, render the text), over real HTTP on
127.0.0.1 against `serve()`, and the same reading and rendering in process; prints the medians
of RUNS each. Target: under 200 ms, with zero API requests (counted at the transport).
Also prints the size of the exposition and, once, prometheus-client's own `generate_latest`
on the same collector for comparison."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benches.bench_warm_start import ACCOUNTS, PROJECTS, fill_store  # noqa: E402

RUNS = 15


def main() -> None:
    import httpx
    from prometheus_client import generate_latest

    from layers_tui.config import Settings
    from layers_tui.metrics import open_readonly, read_store, registry_for, render, serve
    from layers_tui.session.session import Session

    directory = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    started = time.perf_counter()
    fill_store(directory)
    print(f"store filled with {PROJECTS} x {ACCOUNTS} in {time.perf_counter() - started:.1f}s")

    requests: list[str] = []

    class NoApi(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            requests.append(request.url.path)
            return httpx.Response(503)

    settings = Settings(api_key="lyr_live_bench_0123456789abcdef", base_url="http://127.0.0.1:9")
    session = Session(settings, transport=NoApi(), store_path=directory / "state.sqlite3")
    server = serve("127.0.0.1:0", session)
    host, port = server.address
    url = f"http://{host}:{port}/metrics"
    try:
        body = urllib.request.urlopen(url, timeout=30).read()  # warm-up
        http_times = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            body = urllib.request.urlopen(url, timeout=30).read()
            http_times.append(time.perf_counter() - t0)
    finally:
        server.close()

    store = open_readonly(directory / "state.sqlite3")
    read_times, render_times = [], []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        reading = read_store(store, "default")
        t1 = time.perf_counter()
        render(reading)
        render_times.append(time.perf_counter() - t1)
        read_times.append(t1 - t0)
    t0 = time.perf_counter()
    reference = generate_latest(registry_for(store, "default"))
    reference_s = time.perf_counter() - t0
    store.close()
    session.store.close()

    lines = body.count(b"\n")
    http_ms = statistics.median(http_times) * 1000
    print(f"exposition: {len(body) / 1e6:.1f} MB, {lines} lines")
    print(f"scrape over HTTP: median {http_ms:.0f} ms (target < 200 ms)")
    print(f"  read the store: median {statistics.median(read_times) * 1000:.0f} ms")
    print(f"  render the text: median {statistics.median(render_times) * 1000:.0f} ms")
    print(f"prometheus-client generate_latest, same collector: {reference_s * 1000:.0f} ms")
    print(
        f"identical output: {reference == render(read_store(open_readonly(directory / 'state.sqlite3'), 'default'))}"
    )
    print(f"API requests during the scrapes: {len(requests)} (target 0)")


if __name__ == "__main__":
    main()
