"""Issue 11: `check` with a fresh store. Two sandboxes in their own processes, side by side in
one run: 2,000 projects x 20 accounts and a 1-project organisation. `layers-tui sync` fills
each store once; then `layers-tui check` (through cli.main, in this process) is timed on
each, interleaved, and the median compared. Target: the large one within 2x of the small
one, and zero list requests seen at the large sandbox (its request log) during the checks.
The target is the default text check; `check --json` lists every account (42,000 rows
built), so it is timed for information only.

Run: .venv/bin/python benches/bench_check_store.py [--projects 2000] [--runs 7]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benches._sandbox import KEY, append_line, list_requests, sandbox_process  # noqa: E402
from layers_tui.cli import main  # noqa: E402


def run(argv: list[str], base: str) -> tuple[int, float, str]:
    """One command through cli.main against `base`; (exit code, seconds, stdout)."""
    os.environ["LAYERS_BASE_URL"] = base
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, time.perf_counter() - started, out.getvalue()


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-check-store-"))
    for name in ("CONFIG", "STATE", "LOG"):
        os.environ[f"LAYERS_{name}_DIR"] = str(workdir / name.lower())
    os.environ["LAYERS_API_KEY"] = KEY
    log = workdir / "large-requests.log"
    seeded = time.perf_counter()
    with (
        sandbox_process(
            projects=options.projects,
            accounts_per_project=options.accounts,
            log_requests=functools.partial(append_line, str(log)),
        ) as large,
        sandbox_process(projects=1, accounts_per_project=options.accounts) as small,
    ):
        print(f"sandboxes up in {time.perf_counter() - seeded:.1f} s", flush=True)
        for label, base in (("large", large), ("small", small)):
            code, seconds, _ = run(["sync"], base)
            print(f"sync {label}: exit {code} in {seconds:.1f} s", flush=True)
        before = list_requests(log)
        timings: dict[str, list[float]] = {"large": [], "small": [], "large --json": []}
        heads: dict[str, str] = {}
        for _ in range(options.runs):
            for label, base, argv in (
                ("large", large, ["check"]),
                ("small", small, ["check"]),
                ("large --json", large, ["check", "--json"]),
            ):
                code, seconds, out = run(argv, base)
                timings[label].append(seconds)
                heads[label] = f"exit {code}: {out.splitlines()[0][:150] if out else ''}"
        lists = list_requests(log) - before
    large_median = statistics.median(timings["large"])
    small_median = statistics.median(timings["small"])
    print(f"\ncheck, fresh store, median of {options.runs} (in-process cli.main, real HTTP):")
    for label, values in timings.items():
        print(
            f"  {label:13} {statistics.median(values) * 1000:8.1f} ms "
            f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})  {heads[label]}"
        )
    ratio = large_median / small_median
    print(
        f"ratio {options.projects} x {options.accounts} / 1 project: {ratio:.2f}x (target <= 2x; "
        "text check only, --json lists every account)"
    )
    print(f"list requests seen at the large sandbox during the checks: {lists} (target 0)")


if __name__ == "__main__":
    main_bench()
