"""Issue 14 on the command line: `connect` by project name, `reauth` of an ad account, both
failing like CLI commands; `--theme` checked before the app opens; where a rejected key
came from; export booleans; doctor's QR rule is the flow screen's."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime

import httpx
import pytest

from layers_tui.api import LayersClient
from layers_tui.cli import build_parser, key_origin, main
from layers_tui.config import load_settings
from layers_tui.domain.export import to_csv, to_json
from layers_tui.domain.status import Severity, Thresholds, social_row
from layers_tui.models import Project, SocialAccount
from layers_tui.probes import SAMPLE_AUTHORIZE_URL, qr_fit_probe, qr_layout
from layers_tui.targets import TargetError, check_reauthable, find_account, find_project
from layers_tui.ui.widgets.qr_panel import choose_layout, qr_size
from tests.conftest import BASE

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def keyed(monkeypatch, api_key):
    monkeypatch.setenv("LAYERS_API_KEY", api_key)
    monkeypatch.setenv("LAYERS_BASE_URL", BASE)
    return api_key


@pytest.fixture
def no_app(monkeypatch):
    """Fails the test if the dashboard would open."""
    import layers_tui.ui.launch as launch_module

    def launch(settings, initial):
        raise AssertionError(f"the app opened with {initial}")

    monkeypatch.setattr(launch_module, "launch", launch)


def run(coroutine_factory, sandbox_app, api_key):
    async def go():
        transport = httpx.ASGITransport(app=sandbox_app)
        async with LayersClient(BASE, api_key, transport=transport) as client:
            return await coroutine_factory(client)

    return asyncio.run(go())


def one_line_error(captured) -> str:
    assert "Traceback" not in captured.err and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


# -- connect / reauth ------------------------------------------------------------------------
def test_connect_finds_a_project_by_id_name_or_unique_part(sandbox_app, api_key):
    by_name = run(lambda c: find_project(c, "pixel pals games"), sandbox_app, api_key)
    by_part = run(lambda c: find_project(c, "Pixel"), sandbox_app, api_key)
    by_id = run(lambda c: find_project(c, by_name.id), sandbox_app, api_key)
    assert by_name.name == "Pixel Pals Games" and by_part.id == by_name.id == by_id.id


def test_connect_says_which_projects_an_ambiguous_name_matches(sandbox_app, api_key):
    with pytest.raises(TargetError) as caught:
        run(lambda c: find_project(c, "o"), sandbox_app, api_key)
    assert "projects match 'o'" in str(caught.value) and "give the id" in str(caught.value)


def test_reauth_finds_a_social_or_an_ad_account(sandbox_app, api_key):
    async def ids(client):
        from layers_tui.inventory import load_project, load_projects

        for project in await load_projects(client):
            snapshot = await load_project(client, project, NOW)
            if snapshot.ads and snapshot.social:
                return snapshot.social[0].social_account_id, snapshot.ads[0].ad_account_id
        raise AssertionError("no project with both kinds")

    social_id, ad_id = run(ids, sandbox_app, api_key)
    social = run(lambda c: find_account(c, social_id, NOW), sandbox_app, api_key)
    ad = run(lambda c: find_account(c, ad_id, NOW), sandbox_app, api_key)
    assert social.row.kind == "social" and social.row.key == social_id
    assert ad.row.kind == "ad" and ad.row.key == ad_id and ad.timezone
    assert check_reauthable(ad) is ad


def test_connect_unknown_project_fails_in_one_line_without_opening_the_app(
    keyed, sandbox_app, no_app, capsys
):
    transport = httpx.ASGITransport(app=sandbox_app)
    code = main(["connect", "no such project", "tiktok"], transport=transport)
    assert code == 2
    line = one_line_error(capsys.readouterr())
    assert line.startswith("layers-tui connect: no project with id or name 'no such project'")


def test_reauth_unknown_or_disconnected_account_fails_in_one_line(
    keyed, sandbox_app, api_key, no_app, capsys
):
    transport = httpx.ASGITransport(app=sandbox_app)
    assert main(["reauth", "sa_nope"], transport=transport) == 2
    assert "no social or ad account 'sa_nope'" in one_line_error(capsys.readouterr())

    async def disconnected(client):
        from layers_tui.inventory import load_project, load_projects

        for project in await load_projects(client):
            for account in (await load_project(client, project, NOW)).social:
                if account.status == "disconnected":
                    return account.social_account_id
        raise AssertionError("no disconnected account in the demo data")

    gone = run(disconnected, sandbox_app, api_key)
    assert main(["reauth", gone], transport=transport) == 2
    assert "it is disconnected" in one_line_error(capsys.readouterr())


def test_connect_and_reauth_help_say_where_ids_come_from(capsys):
    for command, words in (("connect", "project id"), ("reauth", "ad account id")):
        with pytest.raises(SystemExit):
            build_parser().parse_args([command, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert words in out and "check --json" in out, command


# -- theme -----------------------------------------------------------------------------------
def test_unknown_theme_lists_the_valid_ones_and_exits_2_before_the_app(keyed, no_app, capsys):
    assert main(["--theme", "nonsense"]) == 2
    line = one_line_error(capsys.readouterr())
    assert line.startswith("layers-tui: unknown theme 'nonsense'; valid themes: ")
    assert "textual-dark" in line and "textual-light" in line


def test_theme_list_prints_the_themes_without_needing_a_key(no_app, capsys, monkeypatch):
    monkeypatch.delenv("LAYERS_API_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent-layers-tui-test")
    assert main(["--theme", "list"]) == 0
    themes = capsys.readouterr().out.split()
    assert "textual-dark" in themes and "textual-light" in themes
    assert main(["--theme", "nonsense"]) == 2  # also before asking for a key
    assert "valid themes" in capsys.readouterr().err


# -- a rejected key's origin -----------------------------------------------------------------
def test_key_origin_names_env_file_and_profile(tmp_path):
    from_env = load_settings({}, {"LAYERS_API_KEY": "lp_test_" + "a" * 40}, None, None)
    assert key_origin(from_env) == "LAYERS_API_KEY (environment)"
    config = tmp_path / "config.toml"
    config.write_text(
        '[profiles.staging]\napi_key = "lp_test_' + "b" * 40 + '"\n', encoding="utf-8"
    )
    config.chmod(0o600)
    from_file = load_settings({"profile": "staging"}, {}, config, None)
    assert key_origin(from_file) == f"the config file {config}, profile staging"
    assert "lp_test_" not in key_origin(from_file)


# -- export ----------------------------------------------------------------------------------
def test_export_writes_booleans_as_true_false_in_json_and_csv():
    project = Project.model_validate(
        {"id": "proj_1", "name": "P", "timezone": "UTC", "createdAt": "2026-01-01T00:00:00Z"}
    )
    rows = []
    for leased in (True, False):
        account = SocialAccount.model_validate(
            {
                "socialAccountId": f"sa_{leased}",
                "platform": "tiktok",
                "handle": "h",
                "status": "connected",
                "leased": leased,
            }
        )
        rows.append(social_row(account, project, NOW))
    records = json.loads(to_json(rows))["accounts"]
    assert [record["leased"] for record in records] == [True, False]
    assert '"leased": true' in to_json(rows) and '"leased": false' in to_json(rows)
    table = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert [line["leased"] for line in table] == ["true", "false"]


# -- status wording --------------------------------------------------------------------------
def test_a_critical_connected_row_says_when_it_expires_in_its_status():
    project = Project.model_validate(
        {"id": "proj_1", "name": "P", "timezone": "UTC", "createdAt": "2026-01-01T00:00:00Z"}
    )

    def row(hours: float):
        expires = datetime.fromtimestamp(NOW.timestamp() + hours * 3600, UTC)
        account = SocialAccount.model_validate(
            {
                "socialAccountId": "sa_1",
                "platform": "tiktok",
                "handle": "h",
                "status": "connected",
                "tokenExpiresAt": expires.isoformat(),
            }
        )
        return social_row(account, project, NOW, Thresholds())

    soon = row(17)
    assert soon.severity is Severity.CRITICAL and soon.status_label == "expires < 24 h"
    assert row(-1).status_label == "token expired"
    assert row(72).status_label == "expires < 7 days"
    assert row(24 * 30).status_label == "connected"
    assert "connected" in soon.search_fields["status"]  # status:connected still finds it


# -- doctor's QR rule ------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(80, 24), (120, 40), (100, 40), (200, 50), (77, 40), (73, 38)])
def test_doctor_and_the_flow_screen_agree_whether_a_qr_fits(size):
    width, height = size
    mode, _, _ = choose_layout(SAMPLE_AUTHORIZE_URL, width, height)
    assert qr_fit_probe(width, height).ok == (mode != "none")
    assert qr_layout(SAMPLE_AUTHORIZE_URL, width, height)[0] == mode


def test_the_shared_rule_measures_what_the_panel_draws():
    mode, border, size = choose_layout(SAMPLE_AUTHORIZE_URL, 200, 50)
    assert (mode, border) == ("side", 4) and size == qr_size(SAMPLE_AUTHORIZE_URL, 4)
    mode, border, size = choose_layout(SAMPLE_AUTHORIZE_URL, 76, 40)
    assert (mode, border) == ("full", 2) and size == qr_size(SAMPLE_AUTHORIZE_URL, 2)
    assert qr_fit_probe(120, 40).ok  # doctor used to say no here while the app drew one


def test_doctor_piped_says_not_a_terminal(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAYERS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("LAYERS_API_KEY", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    main(["doctor"])  # capsys: stdout is not a terminal
    out = capsys.readouterr().out
    qr_line = next(line for line in out.splitlines() if line.startswith("qr code:"))
    assert "not a terminal" in qr_line and "0x0" not in qr_line


def test_reauth_asks_the_project_the_store_knows_first_and_says_when_it_must_search(
    sandbox_app, api_key
):
    async def last_account(client):
        from layers_tui.inventory import load_project, load_projects

        projects = await load_projects(client)
        for project in reversed(projects):
            snapshot = await load_project(client, project, NOW)
            if snapshot.social:
                return project.id, snapshot.social[0].social_account_id
        raise AssertionError("no social account")

    project_id, account_id = run(last_account, sandbox_app, api_key)
    paths: list[str] = []

    class Counting(httpx.ASGITransport):
        async def handle_async_request(self, request):
            paths.append(request.url.path)
            return await super().handle_async_request(request)

    async def find(known, progress):
        async with LayersClient(BASE, api_key, transport=Counting(app=sandbox_app)) as client:
            return await find_account(client, account_id, NOW, known, progress, announce_over=0)

    said: list[str] = []
    found = asyncio.run(find(project_id, said.append))
    assert found.row.key == account_id and said == []
    account_lists = [path for path in paths if "/projects/" in path]
    assert {path.split("/")[3] for path in account_lists} == {project_id}
    paths.clear()
    asyncio.run(find(None, said.append))  # the store never saw it: every project in turn
    assert len(said) == 1 and "looking for" in said[0] and "ctrl+c" in said[0]
    assert len({path.split("/")[3] for path in paths if "/projects/" in path}) > 1


def test_reauth_of_an_unknown_id_skips_fresh_projects_and_paces_the_rest(sandbox_app, api_key):
    """`reauth sa_nope` against 300 projects sent 600 requests at once: a 429 for the
    dashboard on the same key. Projects the store listed within 10 minutes are not asked
    again, and the others are asked at the budget's pace."""
    from layers_tui.clock import FakeClock
    from layers_tui.flows.budget import RequestBudget
    from layers_tui.inventory import load_projects

    paths: list[str] = []

    class Counting(httpx.ASGITransport):
        async def handle_async_request(self, request):
            paths.append(request.url.path)
            return await super().handle_async_request(request)

    async def projects(client):
        return await load_projects(client)

    ids = [p.id for p in run(projects, sandbox_app, api_key)]

    async def find(fresh, budget=None):
        async with LayersClient(BASE, api_key, transport=Counting(app=sandbox_app)) as client:
            return await find_account(client, "sa_nope", NOW, fresh_without_it=fresh, budget=budget)

    with pytest.raises(TargetError, match="local store's lists of the last 10 min"):
        asyncio.run(find(set(ids)))
    assert [path for path in paths if "/projects/" in path] == []  # no account lists

    paths.clear()
    clock = FakeClock(NOW)
    slow = RequestBudget(clock, per_minute=12)  # 4 tokens at hand, then one per 5.6 s
    with pytest.raises(TargetError, match="no social or ad account 'sa_nope'"):
        asyncio.run(find(set(ids[:1]), slow))
    asked = {path.split("/")[3] for path in paths if "/projects/" in path}
    assert asked == set(ids[1:])
    beyond_burst = 2 * len(asked) - slow.capacity
    assert beyond_burst > 0
    assert sum(clock.sleeps) >= 0.95 * beyond_burst / slow.rate  # paced, not all at once
