from __future__ import annotations

import json
import subprocess
import sys

import pytest

from layers_tui.api import LayersClient
from layers_tui.check import CheckScope, parse_duration, run_check
from layers_tui.domain.status import Thresholds
from tests.conftest import BASE


async def run(app, key, clock, scope=None, as_json=False, thresholds=None):
    import httpx

    async with LayersClient(
        BASE, key, transport=httpx.ASGITransport(app=app), clock=clock
    ) as client:
        return await run_check(
            client, clock.now, thresholds or Thresholds(), scope or CheckScope(), as_json, 4
        )


async def test_check_text_report(sandbox_app, api_key, fake_clock):
    code, text = await run(sandbox_app, api_key, fake_clock)
    assert code == 2
    head = text.splitlines()[0]
    assert head.startswith(
        "LAYERS CRITICAL - 8 critical, 3 warning, 11 ok, 2 disconnected "
        "across 6 projects | critical=8"
    )
    assert " min_expiry=64800s;604800:;86400:" in head  # 18 h, in seconds with -w and -c
    assert "CRITICAL: Acme Coffee Roasters / TikTok / acme_baristas: reauth required" in text
    assert "\x1b" not in text


async def test_check_scope_and_json(sandbox_app, api_key, fake_clock):
    code, text = await run(
        sandbox_app, api_key, fake_clock, CheckScope(project="bloom", kind="social"), as_json=True
    )
    report = json.loads(text)
    assert report["schemaVersion"] == 1
    assert code == 1 and report["status"] == "WARNING"
    assert {a["name"] for a in report["accounts"]} == {
        "bloomandwild",
        "bloom.wild.uk",
        "bloom_weddings",
    }


async def test_check_ok_when_thresholds_are_tight(sandbox_app, api_key, fake_clock):
    code, text = await run(
        sandbox_app,
        api_key,
        fake_clock,
        CheckScope(project="bloom"),
        thresholds=Thresholds(warn_seconds=86_400, crit_seconds=3600),
    )
    assert code == 0 and text.startswith("LAYERS OK - 0 critical, 0 warning, 4 ok, 1 disc")


async def test_check_of_a_project_without_accounts_is_unknown(sandbox_app, api_key, fake_clock):
    code, text = await run(sandbox_app, api_key, fake_clock, CheckScope(project="lumen"))
    assert code == 3 and text == "LAYERS UNKNOWN - no accounts match --project lumen"


async def test_check_api_down_is_critical(sandbox_app, api_key, fake_clock):
    code, text = await run(sandbox_app, "lp_test_NOPE_nope", fake_clock)
    assert code == 2
    assert text.startswith("LAYERS CRITICAL - API key rejected: UNAUTHENTICATED (401)")


def test_parse_duration():
    assert parse_duration("7d") == 7 * 86_400 and parse_duration("90m") == 5400
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_headless_modules_do_not_import_textual():
    code = (
        "import sys, layers_tui.api, layers_tui.flows, layers_tui.cli, layers_tui.check, "
        "layers_tui.inventory, layers_tui.sandbox; "
        "print('textual' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_sandbox_imports_nothing_else_from_the_package():
    code = (
        "import sys, layers_tui.sandbox.app; "
        "print(sorted(m for m in sys.modules if m.startswith('layers_tui') "
        "and not m.startswith('layers_tui.sandbox') and m != 'layers_tui'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
