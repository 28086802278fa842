"""Issue 12: a Prometheus scrape of a store holding 2,000 projects x 20 accounts.

`watch --metrics` serves the latest exposition prometheus-client produced (in a thread of
its own, when what the metrics show changed); a scrape only sends those bytes. This prints:
- production time (`generate_latest` of the store collector): the first one (every project
  read) and one after CHANGED projects were saved (what a refresh pass writes between two
  scrapes), medians of RUNS;
- scrape latency over real HTTP on 127.0.0.1 from another process (as Prometheus scrapes),
  median and p95 of SCRAPES scrapes, plain and gzip, while a writer saves CHANGED projects
  every TOUCH_EVERY seconds (so productions run concurrently, as during a refresh pass);
- the first scrape of a new server (it waits for the first production);
- API requests during the scrapes, counted at the transport (target 0).
Target: a scrape under 200 ms."""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benches.bench_warm_start import ACCOUNTS, PROJECTS, fill_store  # noqa: E402

RUNS = 5
CHANGED = 20
SCRAPES = 200
SCRAPE_EVERY = 0.1
TOUCH_EVERY = 1.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def scrape(url: str, gzip: bool = False) -> float:
    """Seconds for one GET of `url`, body read to the end."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip else {})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as reply:
        reply.read()
    return time.perf_counter() - t0


def scrape_many(url: str, results: multiprocessing.Queue) -> None:
    """SCRAPES scrapes, plain and gzip in turn, SCRAPE_EVERY apart (in a child process)."""
    plain: list[float] = []
    zipped: list[float] = []
    for n in range(SCRAPES):
        (zipped if n % 2 else plain).append(scrape(url, gzip=bool(n % 2)))
        time.sleep(SCRAPE_EVERY)
    results.put((plain, zipped))


def main() -> None:
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    from layers_tui.config import Settings
    from layers_tui.metrics import ExpositionProducer, SessionReader, serve
    from layers_tui.session.session import Session
    from layers_tui.session.store import StoredAccount

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
    saved: dict[str, list[StoredAccount]] = {}
    write_lock = threading.Lock()

    def stored(pid: str) -> list[StoredAccount]:
        if pid not in saved:
            rows = store._db.execute(  # the bench re-saves what is there, as a pass would
                "SELECT kind, key, platform, name, status, severity, expires_at, leased, doc "
                "FROM accounts WHERE project_id = ?",
                (pid,),
            ).fetchall()
            saved[pid] = [
                StoredAccount(k, key, pl, nm, st, sev, exp, bool(ls), {"raw": doc})
                for k, key, pl, nm, st, sev, exp, ls, doc in rows
            ]
        return saved[pid]

    touches = [0]

    def touch() -> None:
        """Re-save CHANGED projects, as a refresh pass would (same accounts, new seq)."""
        with write_lock:
            now = datetime.now(UTC)
            for n in range(CHANGED):
                pid = f"prj_{(touches[0] * CHANGED + n) % PROJECTS:05d}"
                store.save_project(pid, stored(pid), [], now)
            touches[0] += 1

    # -- production time --------------------------------------------------------------------
    first, after_change = [], []
    body = b""
    for _ in range(RUNS):
        reader = SessionReader(session)
        producer = ExpositionProducer(reader)
        try:
            first.append(producer.produce().seconds)
            touch()
            produced = producer.produce()
            after_change.append(produced.seconds)
            body = produced.body
        finally:
            reader.close()
    samples = sum(len(f.samples) for f in text_string_to_metric_families(body.decode()))

    # -- scrapes over HTTP while productions run ------------------------------------------
    # The scraper is a process of its own, as Prometheus is: it does not share our GIL.
    server = serve("127.0.0.1:0", session, poll=0.5)
    host, port = server.address
    url = f"http://{host}:{port}/metrics"
    stop = threading.Event()

    def writer() -> None:
        while not stop.wait(TOUCH_EVERY):
            touch()

    try:
        cold = scrape(url)
        before = len(api_requests)
        productions_before = server.producer.produced_count
        writing = threading.Thread(target=writer, daemon=True)
        writing.start()
        results: multiprocessing.Queue = multiprocessing.Queue()
        scraper = multiprocessing.Process(target=scrape_many, args=(url, results))
        scraper.start()
        plain, zipped = results.get(timeout=600)
        scraper.join(30)
        stop.set()
        writing.join()
        productions = server.producer.produced_count - productions_before
        during = len(api_requests) - before
    finally:
        stop.set()
        server.close()
        store.close()

    def ms(value: float) -> str:
        return f"{value * 1000:.0f} ms"

    print(f"exposition: {len(body) / 1e6:.1f} MB, {samples} samples")
    print(
        f"production (prometheus-client generate_latest): first {ms(statistics.median(first))}, "
        f"after {CHANGED} projects saved {ms(statistics.median(after_change))} (medians of {RUNS})"
    )
    for name, values in (("plain", plain), ("gzip", zipped)):
        print(
            f"scrape latency ({name}, {len(values)} scrapes, {productions} productions "
            f"meanwhile): median {ms(statistics.median(values))}, "
            f"p95 {ms(percentile(values, 0.95))} (target < 200 ms)"
        )
    print(f"first scrape of a new server (waits for the first production): {ms(cold)}")
    print(f"API requests during the scrapes: {during} (target 0)")


if __name__ == "__main__":
    main()
