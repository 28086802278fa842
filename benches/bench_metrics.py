"""Issue 12: a Prometheus scrape of a store holding 2,000 projects x 20 accounts.

Times `GET /metrics` over real HTTP on 127.0.0.1 against `serve()` (read the store; the
text is written by prometheus-client), zero API requests counted at the transport. Three cases, medians of RUNS each:
- steady: CHANGED projects were saved since the previous scrape (about what a refresh pass
  on the standard tier writes in a 15 s scrape interval);
- unchanged: nothing was saved since the previous scrape;
- cold: the first scrape of a new server, sent at once while its warm-up (every project
  read) runs.
Target: under 200 ms. Also prints prometheus-client's own `generate_latest` on the same
collector once, for comparison, and whether both outputs are identical."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benches.bench_warm_start import ACCOUNTS, PROJECTS, fill_store  # noqa: E402

RUNS = 9
CHANGED = 20


def main() -> None:
    import httpx
    from prometheus_client import generate_latest

    from layers_tui.config import Settings
    from layers_tui.metrics import open_readonly, registry_for, serve
    from layers_tui.session.session import Session

    directory = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    started = time.perf_counter()
    fill_store(directory)
    print(f"store filled with {PROJECTS} x {ACCOUNTS} in {time.perf_counter() - started:.1f}s")

    api_requests: list[str] = []

    class NoApi(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            api_requests.append(request.url.path)
            return httpx.Response(503)

    store_path = directory / "state.sqlite3"
    settings = Settings(api_key="lyr_live_bench_0123456789abcdef", base_url="http://127.0.0.1:9")
    session = Session(settings, transport=NoApi(), store_path=store_path)
    store = session.store

    def scrape(url: str) -> tuple[float, bytes]:
        t0 = time.perf_counter()
        body = urllib.request.urlopen(url, timeout=60).read()
        return time.perf_counter() - t0, body

    def touch(round_no: int) -> None:
        """Re-save CHANGED projects, as a refresh pass would (same accounts, new seq)."""
        now = datetime.now(UTC)
        for n in range(CHANGED):
            pid = f"prj_{(round_no * CHANGED + n) % PROJECTS:05d}"
            store.save_project(pid, stored(pid), [], now)

    saved = {}

    def stored(pid: str):
        if pid not in saved:
            from layers_tui.session.store import StoredAccount

            rows = store._db.execute(
                "SELECT kind, key, platform, name, status, severity, expires_at, leased, doc "
                "FROM accounts WHERE project_id = ?",
                (pid,),
            ).fetchall()
            saved[pid] = [
                StoredAccount(k, key, pl, nm, st, sev, exp, bool(ls), {"raw": doc})
                for k, key, pl, nm, st, sev, exp, ls, doc in rows
            ]
        return saved[pid]

    cold, steady, unchanged = [], [], []
    body = b""
    for run in range(RUNS):
        server = serve("127.0.0.1:0", session)
        host, port = server.address
        url = f"http://{host}:{port}/metrics"
        try:
            elapsed, body = scrape(url)
            cold.append(elapsed)
            for _ in range(3):
                touch(run)
                steady.append(scrape(url)[0])
                unchanged.append(scrape(url)[0])
        finally:
            server.close()

    reference_store = open_readonly(store_path)
    t0 = time.perf_counter()
    reference = generate_latest(registry_for(reference_store, "default"))
    reference_s = time.perf_counter() - t0
    server = serve("127.0.0.1:0", session)
    try:
        host, port = server.address
        same = scrape(f"http://{host}:{port}/metrics")[1] == reference
    finally:
        server.close()
    reference_store.close()
    store.close()

    def ms(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:.0f} ms"

    lines = body.count(b"\n")
    print(f"exposition: {len(body) / 1e6:.1f} MB, {lines} lines")
    print(f"scrape after {CHANGED} projects saved: {ms(steady)} (target < 200 ms)")
    print(f"scrape with nothing saved since the last: {ms(unchanged)}")
    print(f"first scrape of a new server (cold): {ms(cold)}")
    print(f"prometheus-client generate_latest on the same collector: {reference_s * 1000:.0f} ms")
    print(f"HTTP body identical to generate_latest: {same}")
    print(f"API requests during the scrapes: {len(api_requests)} (target 0)")


if __name__ == "__main__":
    main()
