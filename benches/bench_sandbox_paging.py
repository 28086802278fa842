"""Issue 13, item 5: what paging costs the sandbox (it must cost in proportion to the page).

Two organisations, each served by a sandbox in its own process (partner tier, so no 429s):
- one project with 50,000 social accounts, paged through with limit=200 (wall time);
- 2,000 projects x 20 accounts: every project's social and ad list, 4,000 list calls
  (the sandbox process's own CPU time, read from /proc, so the client's share is not counted).
Also prints how long each sandbox took to seed and start. The figures measured before the
change (same machine, same bench) are printed beside today's.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benches._sandbox import KEY, _serve, free_port  # noqa: E402

# Measured with this bench on the code before issue 13 (2-core VM).
BEFORE = {"big_start": 2.3, "big_paging": 79.2, "many_start": 2.8, "many_cpu": 34.7}
TARGETS = {"big_paging": 3.0, "many_cpu": 8.0}


@contextmanager
def sandbox_process(**options) -> Iterator[tuple[str, int]]:
    """Like `benches._sandbox.sandbox_process`, but also yields the server's pid."""
    port = free_port()
    process = multiprocessing.Process(target=_serve, args=(port, options), daemon=True)
    process.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while True:
        try:
            httpx.get(f"{base}/v1/whoami", headers={"X-Api-Key": KEY}, timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        assert process.pid is not None
        yield base, process.pid
    finally:
        process.terminate()
        process.join(5)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # after the ")" that closes the command name: state is field 0, utime 11, stime 12
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def page_all(http: httpx.Client, path: str) -> int:
    count, cursor = 0, None
    while True:
        params = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        response = http.get(path, params=params)
        response.raise_for_status()
        body = response.json()
        count += len(body["items"])
        cursor = body.get("nextCursor")
        if not cursor:
            return count


def one_big_project() -> tuple[float, float]:
    started = time.perf_counter()
    with sandbox_process(projects=1, accounts_per_project=50_000, tier="partner") as (base, _):
        ready = time.perf_counter() - started
        with httpx.Client(base_url=base, headers={"X-Api-Key": KEY}, timeout=120) as http:
            project = http.get("/v1/projects").json()["items"][0]["id"]
            started = time.perf_counter()
            count = page_all(http, f"/v1/projects/{project}/social-accounts")
            elapsed = time.perf_counter() - started
    assert count == 50_000, count
    return ready, elapsed


def many_projects() -> tuple[float, float, int]:
    started = time.perf_counter()
    with sandbox_process(projects=2_000, accounts_per_project=20, tier="partner") as (base, pid):
        ready = time.perf_counter() - started
        with httpx.Client(base_url=base, headers={"X-Api-Key": KEY}, timeout=120) as http:
            projects: list[str] = []
            cursor = None
            while True:
                params = {"limit": 200} | ({"cursor": cursor} if cursor else {})
                body = http.get("/v1/projects", params=params).json()
                projects += [p["id"] for p in body["items"]]
                if not (cursor := body.get("nextCursor")):
                    break
            before = cpu_seconds(pid)
            accounts = 0
            for project in projects:
                accounts += page_all(http, f"/v1/projects/{project}/social-accounts")
                http.get(f"/v1/projects/{project}/ads/ad-accounts").raise_for_status()
            spent = cpu_seconds(pid) - before
    assert len(projects) == 2_000 and accounts == 40_000, (len(projects), accounts)
    return ready, spent, 2 * len(projects)


def main() -> None:
    big_ready, big_paging = one_big_project()
    many_ready, many_cpu, calls = many_projects()
    print("sandbox paging (before -> now; target)")
    print(
        f"1 project x 50,000 accounts, seed + start: {BEFORE['big_start']:.1f} s -> "
        f"{big_ready:.1f} s"
    )
    print(
        f"1 project x 50,000 accounts, paged at limit=200: {BEFORE['big_paging']:.1f} s -> "
        f"{big_paging:.2f} s; target < {TARGETS['big_paging']:.0f} s"
    )
    print(
        f"2,000 projects x 20 accounts, seed + start: {BEFORE['many_start']:.1f} s -> "
        f"{many_ready:.1f} s"
    )
    print(
        f"2,000 projects x 20 accounts, {calls:,} list calls, sandbox CPU: "
        f"{BEFORE['many_cpu']:.1f} s -> {many_cpu:.2f} s; target < {TARGETS['many_cpu']:.0f} s"
    )


if __name__ == "__main__":
    main()
