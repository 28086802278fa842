"""Render screenshots/*.svg from the same scenes the snapshot tests use.

Usage: .venv/bin/python scripts/screenshots.py [SCENE ...]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.scenes import SCENES, scene_app  # noqa: E402


async def render(name: str, target: Path) -> None:
    harness, run_before = scene_app(name)
    app = harness.app
    async with app.run_test(size=SCENES[name].size, notifications=True) as pilot:
        await run_before(pilot)
        await pilot.pause()
        app.save_screenshot(filename=f"{name}.svg", path=str(target))


def main() -> int:
    target = ROOT / "screenshots"
    target.mkdir(exist_ok=True)
    names = sys.argv[1:] or list(SCENES)
    for name in names:
        asyncio.run(render(name, target))
        print(f"screenshots/{name}.svg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
