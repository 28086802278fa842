"""The headless core never imports Textual: checked in a fresh interpreter."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys

import layers_tui

# Named one by one, so an empty package `__init__` can never make this pass.
HEADLESS = [
    "layers_tui.session.store",
    "layers_tui.session.session",
    "layers_tui.session.inventory",
    "layers_tui.session.health",
    "layers_tui.watch",
    "layers_tui.check",
    "layers_tui.check_ranges",
    "layers_tui.inventory",
    "layers_tui.flows.engine",
    "layers_tui.api.client",
]


def _imports_textual(modules: list[str]) -> list[str]:
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return ast.literal_eval(result.stdout.strip())


def test_named_headless_modules_import_no_textual():
    assert _imports_textual(HEADLESS) == []


def test_every_module_outside_ui_imports_no_textual():
    names = [
        info.name
        for info in pkgutil.walk_packages(layers_tui.__path__, "layers_tui.")
        if not info.name.startswith(("layers_tui.ui", "layers_tui.sandbox"))
        and info.name != "layers_tui.__main__"  # importing it runs the program
    ]
    assert set(HEADLESS) <= set(names)
    assert _imports_textual(names) == []
