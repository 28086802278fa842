"""`check` speaks Nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, one line or one JSON object
for every outcome, never a traceback."""

from __future__ import annotations

import json

import httpx
import pytest

from layers_tui.check import CheckScope, run_check
from layers_tui.cli import main
from layers_tui.domain.status import Thresholds
from tests.unit.fake_api import KEY, FakeApi, ad, envelope, social


def one_line(capsys) -> tuple[str, str]:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert captured.out.count("\n") == 1, captured.out
    return captured.out.rstrip("\n"), captured.err


def one_json(capsys) -> dict:
    line, _ = one_line(capsys)
    return json.loads(line)


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--bogus"],
        ["check", "--platform", "nosuch"],
        ["check", "--kind"],
        ["check", "extra-positional"],
        ["--refresh", "soon", "check"],
    ],
)
def test_bad_flags_are_unknown(argv, capsys):
    assert main(argv) == 3
    line, _ = one_line(capsys)
    assert line.startswith("LAYERS UNKNOWN - bad arguments: ")


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--json", "--bogus"],
        ["check", "--bogus", "--json"],
        ["check", "--js", "--platform", "nosuch"],
        ["--refresh", "soon", "check", "--json"],
        ["check", "--json", "--warn-within", "soon"],
    ],
)
def test_bad_flags_with_json_print_one_json_object(argv, capsys, monkeypatch):
    monkeypatch.setenv("LAYERS_API_KEY", KEY)
    assert main(argv) == 3
    report = one_json(capsys)
    assert report["status"] == "UNKNOWN" and report["exitCode"] == 3
    assert report["schemaVersion"] == 1 and report["error"]["code"] == "USAGE"
    assert report["error"]["message"]


def test_other_commands_keep_argparse_exit_2(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["doctor", "--bogus"])
    assert caught.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_bad_config_is_unknown_in_text_and_json(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("refresh_interval = [\n")
    assert main(["check", "--config", str(config)]) == 3
    line, _ = one_line(capsys)
    assert line.startswith("LAYERS UNKNOWN - config error: ") and str(config) in line
    assert main(["check", "--json", "--config", str(config)]) == 3
    report = one_json(capsys)
    assert report["exitCode"] == 3 and report["error"]["code"] == "CONFIG"


def test_missing_key_is_unknown(capsys):
    assert main(["check", "--json"]) == 3
    report = one_json(capsys)
    assert report["error"]["code"] == "CONFIG" and "LAYERS_API_KEY" in report["error"]["message"]


# -- outcomes against an API --------------------------------------------------------------------
def world() -> FakeApi:
    api = FakeApi()
    api.add_project("p_one", "Acme Coffee")
    api.add_project("p_two", "Bloom Flowers")
    api.social["p_one"] = [social("s1", "acme_baristas")]
    api.ads["p_two"] = [ad("a1", "Bloom Ads")]
    return api


async def run(api: FakeApi, scope: CheckScope | None = None, as_json: bool = False):
    async with api.client() as client:
        return await run_check(
            client, client.clock.now, Thresholds(), scope or CheckScope(), as_json, 4
        )


async def test_healthy_organisation_is_ok():
    code, text = await run(world())
    assert code == 0 and text.startswith("LAYERS OK - 0 critical, 0 warning, 2 ok")


@pytest.mark.parametrize("selector", ["nosuch", "p_on", "P_THREE"])
async def test_unknown_project_is_unknown(selector):
    code, text = await run(world(), CheckScope(project=selector))
    assert code == 3
    assert text.startswith(f"LAYERS UNKNOWN - no project matches --project '{selector}'")
    assert "\n" not in text
    code, text = await run(world(), CheckScope(project=selector), as_json=True)
    report = json.loads(text)
    assert code == 3 and report["exitCode"] == 3 and report["error"]["code"] == "NO_MATCH"


@pytest.mark.parametrize("selector", ["p_two", "P_TWO", "bloom"])
async def test_project_by_id_or_name_checks_only_that_project(selector):
    api = world()
    api.social["p_one"] = [social("s1", "acme_baristas", "reauth_required")]
    code, text = await run(api, CheckScope(project=selector))
    assert code == 0 and "across 1 projects" in text
    assert not any("/p_one/" in path for path in api.paths)


async def test_selection_matching_no_accounts_is_unknown():
    code, text = await run(world(), CheckScope(platform="apple_ads"))
    assert code == 3
    assert text == "LAYERS UNKNOWN - no accounts match --platform apple_ads"
    code, text = await run(world(), CheckScope(project="acme", kind="ad"), as_json=True)
    assert code == 3 and json.loads(text)["error"]["code"] == "NO_MATCH"


async def test_empty_organisation_without_a_selection_is_ok():
    code, text = await run(FakeApi())
    assert code == 0 and "across 0 projects" in text


async def test_rejected_key_is_critical_and_named():
    api = world()
    api.routes["/v1/whoami"] = lambda request: envelope(401, "UNAUTHENTICATED", "Invalid API key.")
    code, text = await run(api)
    assert code == 2
    assert text.startswith("LAYERS CRITICAL - API key rejected: UNAUTHENTICATED (401)")
    assert "unavailable" not in text
    code, text = await run(api, as_json=True)
    report = json.loads(text)
    assert report["status"] == "CRITICAL" and report["error"]["reason"] == "API key rejected"
    assert report["error"]["httpStatus"] == 401


async def test_unreachable_api_is_critical_and_named():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    api = world()
    api.routes["/v1/whoami"] = refuse
    code, text = await run(api)
    assert code == 2 and text.startswith("LAYERS CRITICAL - API unreachable: ")


async def test_one_failing_project_is_critical_and_named():
    api = world()
    api.routes["/v1/projects/p_two/ads/ad-accounts"] = lambda r: envelope(
        500, "INTERNAL", "boom", "req_9"
    )
    code, text = await run(api)
    assert code == 2
    assert "1 project(s) failed to load" in text
    assert "CRITICAL: project Bloom Flowers [p_two] did not load: INTERNAL (500): boom" in text


async def test_unexpected_exception_is_unknown_one_line(monkeypatch):
    def explode(*args, **kwargs):
        raise ZeroDivisionError("lp_live_KEYID_topsecret")

    monkeypatch.setattr("layers_tui.check.summarize", explode)
    code, text = await run(world())
    assert code == 3
    assert text == (
        "LAYERS UNKNOWN - internal error in layers-tui: ZeroDivisionError (details in the log file)"
    )


def test_unexpected_exception_through_main_logs_redacted_traceback(monkeypatch, capsys, tmp_path):
    async def explode(*args, **kwargs):
        raise RuntimeError("lp_live_KEYID_topsecret went wrong")

    monkeypatch.setattr("layers_tui.check.gather", explode)
    monkeypatch.setenv("LAYERS_API_KEY", KEY)
    monkeypatch.setenv("LAYERS_BASE_URL", "http://127.0.0.1:9")
    assert main(["check", "--json"]) == 3
    report = one_json(capsys)
    assert report["error"]["code"] == "INTERNAL_CLIENT"
    assert "topsecret" not in json.dumps(report)
    logged = (tmp_path / "log" / "layers-tui.log").read_text(encoding="utf-8")
    assert "Traceback" in logged and "RuntimeError" in logged
    assert "lp_live_KEYID_…" in logged and "topsecret" not in logged


def test_check_against_a_live_api_through_main(live_server, monkeypatch, capsys):
    monkeypatch.setenv("LAYERS_BASE_URL", live_server.base_url)
    monkeypatch.setenv("LAYERS_API_KEY", "lp_test_NOPE_nope")
    assert main(["check"]) == 2
    line, _ = one_line(capsys)
    assert line.startswith("LAYERS CRITICAL - API key rejected: UNAUTHENTICATED (401)")
    monkeypatch.setenv("LAYERS_API_KEY", live_server.app.state.sandbox.demo_key)
    assert main(["check", "--json", "--project", "nosuch"]) == 3
    assert one_json(capsys)["error"]["code"] == "NO_MATCH"


def test_the_named_problems_are_worst_first_by_expiry_not_by_project():
    """A walk saw "connected, token in 5 h" listed above "expired 46 h ago" because its
    project came first alphabetically."""
    from datetime import UTC, datetime, timedelta

    from layers_tui.check import _worst_first
    from layers_tui.domain.status import Severity, Thresholds, social_row
    from layers_tui.models import Project, SocialAccount

    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

    def row(project: str, handle: str, expires_in: timedelta | None, status="connected"):
        account = SocialAccount.model_validate(
            {
                "socialAccountId": f"sa_{handle}",
                "platform": "tiktok",
                "handle": handle,
                "status": status,
                "tokenExpiresAt": (now + expires_in).isoformat() if expires_in else None,
            }
        )
        return social_row(account, Project(id=project, name=project), now, Thresholds())

    rows = [
        row("Alpha", "soon", timedelta(hours=5)),
        row("Alpha", "gone", None, status="reauth_required"),
        row("Zed", "expired", -timedelta(hours=46)),
        row("Beta", "week", timedelta(days=5)),
    ]
    assert {r.severity for r in rows[:3]} == {Severity.CRITICAL}
    ordered = [r.name for r in sorted(rows, key=_worst_first)]
    assert ordered == ["expired", "soon", "gone", "week"]
