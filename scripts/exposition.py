"""Print the Prometheus exposition of a store filled from an in-process sandbox (300 projects
by default), for `promtool check metrics` in `.ci/run`.

Usage: .venv/bin/python scripts/exposition.py [PROJECTS] > layers.prom
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from layers_tui.clock import FakeClock  # noqa: E402
from layers_tui.config import Settings  # noqa: E402
from layers_tui.metrics import read_store, render  # noqa: E402
from layers_tui.sandbox import SandboxClock, create_app  # noqa: E402
from layers_tui.session.session import Session  # noqa: E402


async def main(projects: int) -> None:
    clock = FakeClock()
    sandbox = create_app(
        clock=SandboxClock(base=clock.now), projects=projects, accounts_per_project=10,
        tier="partner", rng_seed=1,
    )  # fmt: skip
    settings = Settings(api_key=sandbox.state.sandbox.demo_key, base_url="http://localhost:8787")
    store = Path(tempfile.mkdtemp(prefix="exposition-")) / "state.sqlite3"
    session = Session(
        settings, clock=clock, transport=httpx.ASGITransport(app=sandbox), store_path=store
    )
    await session.identify()
    await session.inventory.refresh()
    sys.stdout.buffer.write(render(read_store(session.store, "default")))
    await session.aclose()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
