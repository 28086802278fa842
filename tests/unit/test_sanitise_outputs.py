"""No control character from the API reaches any machine-facing output: `check` text and
JSON, CSV and JSON export, the log file. Asserted on the bytes written."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from layers_tui.check import CheckScope, run_check
from layers_tui.cli import main
from layers_tui.domain.export import to_csv, to_json
from layers_tui.domain.status import Thresholds
from layers_tui.logs import close_logging, setup_logging
from tests.unit.fake_api import KEY, FakeApi, ad, envelope, social

OSC52 = "\x1b]52;c;aGVsbG8=\x07"
OSC0 = "\x1b]0;pwned title\x1b\\"
CSI = "\x1b[2J\x1b[H"
C1 = "\x9b31m\x9d0;t\x9c\x85"
HOSTILE = f"x{OSC52}{OSC0}{CSI}\x07{C1}\r\n\t\x00\x7fz"


def assert_clean_bytes(data: bytes, allow_newlines: bool = True) -> str:
    """No ESC, BEL, other C0 (but line ends), DEL or C1 (as a raw byte, which would make the
    UTF-8 invalid, or as U+0080..U+009F)."""
    allowed = {0x0A, 0x0D} if allow_newlines else set()
    bad = [b for b in data if (b < 0x20 and b not in allowed) or b == 0x7F]
    assert not bad, (bad, data[:200])
    text = data.decode("utf-8")  # strict: a lone 0x80-0x9f byte fails here
    c1 = [c for c in text if 0x80 <= ord(c) <= 0x9F]
    assert not c1, c1
    return text


def assert_clean_value(value: object) -> None:
    """Decoded JSON values carry no control characters either (ensure_ascii alone would
    still hand `\\u001b` to whoever reads the JSON)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert_clean_value(key)
            assert_clean_value(item)
    elif isinstance(value, list):
        for item in value:
            assert_clean_value(item)
    elif isinstance(value, str):
        assert not [c for c in value if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F], value


def hostile_world() -> FakeApi:
    api = FakeApi(organization=f"Org{HOSTILE}")
    api.add_project("p_bad", f"Proj{HOSTILE}")
    api.add_project(f"p_{HOSTILE}", f"Second{HOSTILE}")
    api.add_project("p_err", f"Failing{HOSTILE}")
    api.social["p_bad"] = [
        social(f"s_{HOSTILE}", f"handle{HOSTILE}", f"status{HOSTILE}"),
        social("s2", "plain", "connected", platform=f"plat{HOSTILE}"),
        social("s3", f"reauth{HOSTILE}", "reauth_required"),
    ]
    api.ads["p_bad"] = [
        ad(f"a_{HOSTILE}", f"adname{HOSTILE}", f"token{HOSTILE}", platform=f"adplat{HOSTILE}"),
        ad("a2", f"revoked{HOSTILE}", "revoked"),
    ]
    api.routes["/v1/projects/p_err/ads/ad-accounts"] = lambda request: envelope(
        503, f"CODE{HOSTILE}", f"message{HOSTILE}", f"req{HOSTILE}"
    )
    return api


async def run(api: FakeApi, as_json: bool) -> tuple[int, str]:
    async with api.client() as client:
        return await run_check(client, client.clock.now, Thresholds(), CheckScope(), as_json, 4)


async def test_check_text_from_hostile_data_has_no_control_bytes():
    code, text = await run(hostile_world(), as_json=False)
    assert code == 2
    out = assert_clean_bytes(text.encode("utf-8"))
    assert "unknown (statusx␛]52;c;aGVsbG8=␇" in out  # unknown status: shown, defused
    assert "unknown (tokenx␛" in out
    assert "platx␛]52" in out  # an unknown platform's label
    assert "adplatx␛]52" in out
    assert "CODEx␛]52" in out and "messagex␛]52" in out and "reqx␛]52" in out
    assert "Failingx␛]52" in out
    assert len(out.splitlines()) == 1 + 4 + 1  # status line, 4 problem rows, 1 failed project


async def test_check_json_from_hostile_data_is_ascii_and_clean():
    code, text = await run(hostile_world(), as_json=True)
    assert code == 2
    data = text.encode("utf-8")
    assert all(b < 0x80 for b in data)
    assert_clean_bytes(data, allow_newlines=False)
    report = json.loads(text)
    assert_clean_value(report)
    assert report["organization"].startswith("Orgx␛]52")
    statuses = {account["status"] for account in report["accounts"]}
    assert "statusx␛]52;c;aGVsbG8=␇␛]0;pwned title␛\\␛[2J␛[H␇\\u009b31m\\u009d0;t" in "".join(
        statuses
    )
    assert report["failedProjects"][0]["error"]["message"].startswith("messagex␛]52")


async def test_check_api_failure_json_and_text_are_clean():
    api = hostile_world()
    api.routes["/v1/whoami"] = lambda request: envelope(
        401, f"UNAUTHENTICATED{HOSTILE}", f"bad key{HOSTILE}", f"req{HOSTILE}"
    )
    code, text = await run(api, as_json=False)
    assert code == 2
    assert_clean_bytes(text.encode("utf-8"), allow_newlines=False)
    code, text = await run(api, as_json=True)
    assert all(b < 0x80 for b in text.encode("utf-8"))
    assert_clean_value(json.loads(text))


@pytest.mark.parametrize("as_json", [False, True])
def test_check_usage_error_echoing_hostile_arguments_is_clean(as_json, capsys):
    argv = ["check", f"--project={HOSTILE}", f"--bogus{HOSTILE}"] + (["--json"] if as_json else [])
    assert main(argv) == 3
    out = capsys.readouterr().out.encode("utf-8")
    assert_clean_bytes(out)
    assert out.count(b"\n") == 1


async def test_unknown_project_selector_is_echoed_clean():
    api = hostile_world()
    async with api.client() as client:
        code, text = await run_check(
            client, client.clock.now, Thresholds(), CheckScope(project=f"nosuch{HOSTILE}"), False, 4
        )
    assert code == 3
    assert_clean_bytes(text.encode("utf-8"), allow_newlines=False)


async def test_export_from_hostile_data_has_no_control_bytes():
    api = hostile_world()
    async with api.client() as client:
        from layers_tui.inventory import load_inventory

        inventory = await load_inventory(client, client.clock.now, 4)
    rows = inventory.rows(datetime(2026, 11, 20, tzinfo=UTC), Thresholds())
    assert len(rows) == 5
    csv_bytes = to_csv(rows).encode("utf-8")
    assert_clean_bytes(csv_bytes)  # \r\n line ends only
    assert csv_bytes.count(b"\r") == csv_bytes.count(b"\r\n") == len(rows) + 1
    json_bytes = to_json(rows).encode("utf-8")
    assert all(b < 0x80 for b in json_bytes)
    assert_clean_bytes(json_bytes)
    assert_clean_value(json.loads(json_bytes))


def test_log_lines_are_clean_and_redacted(tmp_path):
    path = setup_logging(tmp_path / "logs")
    assert path is not None
    log = logging.getLogger("layers_tui.test")
    try:
        log.warning("project %s failed: %s", f"name{HOSTILE}", f"key {KEY} {HOSTILE}")
        try:
            raise ValueError(f"boom{HOSTILE} Bearer {KEY}")
        except ValueError:
            log.exception("unexpected %s", HOSTILE)
    finally:
        close_logging(path)
    data = path.read_bytes()
    text = assert_clean_bytes(data)
    assert KEY not in text and "s3cretvalue" not in text
    assert "lp_test_FAKEKEY1_…" in text
    first, second = text.split("\n")[0], text.split("\n")[1]
    # a message stays on its own line: the API's \r\n cannot forge another log record
    assert "WARNING layers_tui.test project namex␛]52" in first and "␍␊" in first
    assert "ERROR layers_tui.test unexpected x␛]52" in second
    assert "Traceback" in text and "ValueError: boomx␛]52" in text
