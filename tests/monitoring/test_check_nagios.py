"""`check` to the Monitoring Plugins guidelines: threshold ranges, perfdata, and a JSON
Schema every `--json` outcome validates against."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import timedelta
from importlib import resources

import httpx
import jsonschema
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from layers_tui.check import ExpiryRanges, Range, parse_range, perfdata
from layers_tui.cli import main
from layers_tui.clock import FakeClock
from layers_tui.domain.status import AccountRow, Severity, remedy
from tests.conftest import BASE, START
from tests.unit.fake_api import KEY, FakeApi, ad, envelope, social

SCHEMA = json.loads(
    resources.files("layers_tui").joinpath("schemas/check-v1.schema.json").read_text("utf-8")
)
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
# 'label'=value[UOM];[warn];[crit];[min];[max] with the units the guidelines know.
PERF_ITEM = re.compile(
    r"^('[^'=]+'|[^ '=]+)=-?\d+(\.\d+)?(s|%|B|KB|MB|TB|c)?"
    r"(;(@?(~|-?\d+(\.\d+)?)?:?(-?\d+(\.\d+)?)?)){0,2}(;(-?\d+(\.\d+)?)?){0,2}$"
)


# -- ranges ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "alerting", "quiet"),
    [
        ("10", [-1, -0.001, 10.001, 11], [0, 5, 10]),  # outside 0..10
        ("10:", [-5, 0, 9.999], [10, 11, 1e12]),  # below 10
        ("~:10", [10.001, 11, 1e12], [-1e12, 0, 10]),  # above 10
        ("10:20", [-1, 9.999, 20.001], [10, 15, 20]),  # outside 10..20
        ("@10:20", [10, 15, 20], [9.999, 20.001, -1]),  # inside 10..20, inclusive
    ],
)
def test_range_examples_of_the_guidelines(text, alerting, quiet):
    parsed = parse_range(text)
    assert [value for value in alerting if parsed.alerts(value)] == alerting
    assert [value for value in quiet if parsed.alerts(value)] == []
    assert parsed.text == text  # written back as given (perfdata carries it)


@pytest.mark.parametrize(
    ("text", "written"), [("7d:", "604800:"), ("0:5", "5"), ("@~:1.5", "@~:1.5"), (" 3 ", "3")]
)
def test_range_endpoints_take_durations_and_are_written_as_numbers(text, written):
    assert parse_range(text).text == written


@pytest.mark.parametrize("text", ["", "@", "~", "soon", "20:10", "1:2:3", "10:~", "nan"])
def test_bad_ranges_are_refused_with_the_syntax(text):
    with pytest.raises(ValueError, match="range|start of a range"):
        parse_range(text)


def test_critical_wins_over_warning():
    ranges = ExpiryRanges(parse_range("7d:"), parse_range("1d:"))
    assert ranges.severity(3600) == Severity.CRITICAL
    assert ranges.severity(3 * 86_400) == Severity.WARNING
    assert ranges.severity(8 * 86_400) == Severity.OK
    assert Range(5).alerts(4.9) and not Range(5).alerts(5)


# -- perfdata ----------------------------------------------------------------------------------
def test_perfdata_items_follow_the_format():
    assert perfdata("min_expiry", 64800, "s", warn="604800:", crit="86400:") == (
        "min_expiry=64800s;604800:;86400:"
    )
    assert perfdata("critical", 3, minimum=0) == "critical=3;;;0"
    assert perfdata("two words", 1.5) == "'two words'=1.5"
    with pytest.raises(ValueError):
        perfdata("hours", 18, "h")  # not a unit Nagios knows
    with pytest.raises(ValueError):
        perfdata("a=b", 1)


# -- the command, through main ---------------------------------------------------------------
def at(days: float) -> str:
    return (START + timedelta(days=days)).isoformat().replace("+00:00", "Z")


def world() -> FakeApi:
    api = FakeApi()
    api.add_project("p_one", "Acme Coffee")
    api.add_project("p_two", "Bloom Flowers")
    api.social["p_one"] = [social("s1", "acme_baristas", tokenExpiresAt=at(3))]
    api.ads["p_two"] = [ad("a1", "Bloom Ads")]
    return api


@pytest.fixture
def run(monkeypatch, capsys):
    monkeypatch.setenv("LAYERS_API_KEY", KEY)
    monkeypatch.setenv("LAYERS_BASE_URL", BASE)

    def go(api: FakeApi, *argv: str) -> tuple[int, str]:
        code = main(
            ["check", "--max-age", "0", *argv],
            transport=httpx.MockTransport(api.handle),
            clock=FakeClock(START),
        )
        out = capsys.readouterr().out
        assert "Traceback" not in out and "s3cretvalue" not in out
        return code, out

    return go


def valid(out: str) -> dict:
    assert out.count("\n") == 1, out
    report = json.loads(out)
    VALIDATOR.validate(report)
    return report


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        ([], 1),  # 3 days left: within the 7-day default
        (["-w", "86400:", "-c", "3600:"], 0),
        (["--warning", "2d:"], 0),
        (["-c", "5d:"], 2),
        (["--critical", "@2d:4d"], 2),
        (["-w", "@4d:5d"], 0),
        (["-w", "~:1d"], 1),  # more than a day left alerts: odd, but what the range says
        (["--warn-within", "2d"], 0),
        (["--crit-within", "4d"], 2),
    ],
)
def test_ranges_decide_the_exit_code(run, argv, code):
    got, out = run(world(), *argv)
    assert got == code, out
    got, out = run(world(), "--json", *argv)
    report = valid(out)
    assert got == code and report["exitCode"] == code


def test_text_is_one_summary_line_then_problems_with_perfdata_after_the_bar(run):
    code, out = run(world())
    head, *rest = out.rstrip("\n").splitlines()
    status, perf = head.split(" | ")
    assert code == 1 and status.startswith("LAYERS WARNING - 0 critical, 1 warning, 1 ok")
    items = perf.split(" ")
    assert all(PERF_ITEM.match(item) for item in items), items
    assert "min_expiry=259200s;604800:;86400:" in items
    assert rest == [
        "WARNING: Acme Coffee / TikTok / acme_baristas: connected, token in 3 days; "
        "action: reauth [s1]"
    ]
    assert "|" not in "".join(rest)


def test_json_thresholds_and_soonest_expiry(run):
    _, out = run(world(), "--json", "-w", "@10:20", "-c", "~:5")
    report = valid(out)
    assert report["thresholds"] == {"warning": "@10:20", "critical": "~:5"}
    assert report["summary"]["minExpirySeconds"] == 3 * 86_400


def test_problem_and_action_say_what_and_what_to_do_without_keys(run):
    api = world()
    api.social["p_one"] = [
        social("s1", "expired", tokenExpiresAt=(START - timedelta(hours=2)).isoformat()),
        social("s2", "flagged", "reauth_required"),
        social("s3", "gone", "disconnected"),
        social("s4", "fine", tokenExpiresAt=at(30)),
        social("s5", "soon", tokenExpiresAt=at(3)),
    ]
    api.ads["p_two"] = [ad("a1", "dead ads", "revoked")]
    code, out = run(api, "--json")
    report = valid(out)
    assert code == 2
    said = {a["name"]: (a["problem"], a["action"]) for a in report["accounts"]}
    assert said == {
        "expired": ("token expired 2 h ago", "reauth"),
        "flagged": ("reauth required", "reauth"),
        "gone": ("disconnected", "connect"),
        "fine": ("", "none"),
        "soon": ("token expires in 3 days", "reauth"),
        "dead ads": ("ad token revoked", "reauth"),
    }
    assert "press" not in out.lower() and "(r)" not in out


def test_remedy_of_an_unknown_status_names_it_and_asks_nothing():
    row = AccountRow(
        "s9",
        "social",
        "p",
        "P",
        "tiktok",
        "n",
        "paused\x1b",
        "unknown",
        Severity.WARNING,
        False,
        None,
        None,
        "",
    )
    problem, action = remedy(row, START)
    assert action == "none" and "paused␛" in problem and "\x1b" not in problem


# -- every outcome validates ---------------------------------------------------------------------
def test_ok_warning_and_critical_reports_validate(run):
    api = world()
    api.social["p_one"] = [social("s1", "fine", tokenExpiresAt=at(30))]
    assert valid(run(api, "--json")[1])["status"] == "OK"
    assert valid(run(world(), "--json")[1])["status"] == "WARNING"
    api.social["p_one"] = [social("s1", "flagged", "reauth_required")]
    assert valid(run(api, "--json")[1])["status"] == "CRITICAL"


def test_a_failed_project_and_duplicates_validate(run):
    api = world()
    api.projects.append({"id": "p_two", "name": "Bloom again", "timezone": "UTC"})
    api.routes["/v1/projects/p_one/social-accounts"] = lambda r: envelope(500, "INTERNAL", "boom")
    code, out = run(api, "--json")
    report = valid(out)
    assert code == 2 and report["failedProjects"][0]["projectId"] == "p_one"
    assert report["duplicateProjects"] == [{"projectId": "p_two", "name": "Bloom again"}]


def test_api_failures_validate(run):
    api = world()
    api.routes["/v1/whoami"] = lambda request: envelope(401, "UNAUTHENTICATED", "Invalid key.")
    code, out = run(api, "--json")
    assert code == 2 and valid(out)["error"]["reason"] == "API key rejected"

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    api.routes["/v1/whoami"] = refuse
    code, out = run(api, "--json")
    report = valid(out)
    assert code == 2 and report["error"]["reason"] == "API unreachable"


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--bogus"], "USAGE"),
        (["-w", "20:10"], "USAGE"),
        (["-w", "1:", "--warn-within", "1d"], "USAGE"),
        (["-c", "soon"], "USAGE"),
        (["--project", "nosuch"], "NO_MATCH"),
        (["--platform", "apple_ads"], "NO_MATCH"),
    ],
)
def test_unknown_outcomes_validate(run, argv, error):
    code, out = run(world(), "--json", *argv)
    report = valid(out)
    assert code == 3 and report["status"] == "UNKNOWN" and report["error"]["code"] == error


def test_bad_config_and_internal_errors_validate(run, tmp_path, monkeypatch):
    config = tmp_path / "bad.toml"
    config.write_text("refresh_interval = [\n")
    code, out = run(world(), "--json", "--config", str(config))
    assert code == 3 and valid(out)["error"]["code"] == "CONFIG"

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("layers_tui.check.health", explode)
    code, out = run(world(), "--json")
    assert code == 3 and valid(out)["error"]["code"] == "INTERNAL_CLIENT"


def test_the_schema_refuses_what_it_should():
    """The schema is not a rubber stamp: a missing field, a keystroke action, a status that
    disagrees with the exit code are all refused."""
    good = {"schemaVersion": 1, "status": "UNKNOWN", "exitCode": 3}
    VALIDATOR.validate({**good, "error": {"code": "USAGE", "message": "x"}})
    for bad in (
        {**good, "error": {"code": "USAGE"}},
        {**good, "exitCode": 2, "error": {"code": "USAGE", "message": "x"}},
        {**good, "schemaVersion": 2, "error": {"code": "USAGE", "message": "x"}},
        {**good, "error": {"code": "WHATEVER", "message": "x"}},
        good,
    ):
        assert not VALIDATOR.is_valid(bad), bad


def test_ranges_apply_to_stale_data_under_the_stale_rule(monkeypatch, capsys):
    """A token the ranges flag in a project that could not be refreshed: UNKNOWN (the stale
    rule), counted in staleWarning; without the flagging range, stale data leaves it OK."""
    monkeypatch.setenv("LAYERS_API_KEY", KEY)
    monkeypatch.setenv("LAYERS_BASE_URL", BASE)
    api = world()
    api.social["p_one"] = [social("s1", "acme_baristas", tokenExpiresAt=at(10))]

    def check(*argv: str) -> dict:
        main(
            ["check", "--json", "--max-age", "10m", "--timeout", "0", *argv],
            transport=httpx.MockTransport(api.handle),
            clock=FakeClock(START + timedelta(hours=1)),
        )
        return valid(capsys.readouterr().out)

    assert main(["sync"], transport=httpx.MockTransport(api.handle), clock=FakeClock(START)) == 0
    capsys.readouterr()
    report = check()
    assert report["status"] == "OK" and report["summary"]["staleProjects"] == 2
    report = check("-w", "30d:")
    assert report["status"] == "UNKNOWN" and report["summary"]["staleWarning"] == 1
    assert [a["severity"] for a in report["accounts"] if a["id"] == "s1"] == ["warning"]


ENDPOINTS = st.one_of(st.just(None), st.integers(-10 * 86_400, 10 * 86_400))


@settings(max_examples=200, deadline=None)
@given(
    low=ENDPOINTS,
    high=ENDPOINTS,
    inside=st.booleans(),
    remaining=st.one_of(st.none(), st.integers(-20 * 86_400, 20 * 86_400)),
)
def test_range_sql_alerts_exactly_where_the_range_does(low, high, inside, remaining):
    """The SQL a range gives `check` (plain comparisons, for the index) holds for the same
    expiries `Range.alerts` alerts on, its complement for the others, and never for NULL."""
    start = float("-inf") if low is None else float(low)
    end = float("inf") if high is None else float(high)
    assume(start <= end)
    now = 1_800_000_000.0
    expires = None if remaining is None else now + remaining
    database = sqlite3.connect(":memory:")
    for candidate in (Range(start, end, inside), Range(start, end, inside).complement()):
        sql, params = candidate.sql(now)
        (holds,) = database.execute(
            f"SELECT {sql} FROM (SELECT ? AS expires_at)", [*params, expires]
        ).fetchone()
        if remaining is None:
            assert not holds or sql == "(1 = 1)"
        else:
            assert bool(holds) == candidate.alerts(remaining)
