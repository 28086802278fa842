"""`layers-tui history` and `layers-tui journal`: what the store remembers, read back after a
restart (written by one process's session, read by a fresh `main`)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest

from layers_tui.cli import main
from layers_tui.clock import FakeClock
from layers_tui.config import Settings
from layers_tui.session.session import open_session
from tests.conftest import BASE, START
from tests.unit.fake_api import KEY, FakeApi, social

HOSTILE = "x\x1b]52;c;aGVsbG8=\x07\x9b31m"
DAY = 86_400


def world() -> FakeApi:
    api = FakeApi()
    api.add_project("p_one", "Acme Coffee")
    api.add_project("p_two", f"Bloom{HOSTILE}")
    api.social["p_one"] = [social("s1", "acme_baristas")]
    api.social["p_two"] = [social("s2", f"bloom{HOSTILE}")]
    return api


@pytest.fixture
def cli(monkeypatch, capsys):
    monkeypatch.setenv("LAYERS_API_KEY", KEY)
    monkeypatch.setenv("LAYERS_BASE_URL", BASE)

    def go(argv: list[str], api: FakeApi | None = None, at: float = 0) -> tuple[int, str, str]:
        code = main(
            argv,
            transport=httpx.MockTransport((api or world()).handle),
            clock=FakeClock(START + timedelta(seconds=at)),
        )
        captured = capsys.readouterr()
        assert "s3cretvalue" not in captured.out + captured.err  # never the key
        assert "Traceback" not in captured.out + captured.err
        return code, captured.out, captured.err

    return go


@pytest.fixture
def recorded(cli):
    """Three syncs, each its own process as far as the store knows: first sight at START,
    s1 flagged for reauth a day later, s2 disconnected three days later."""
    api = world()
    assert cli(["sync"], api)[0] == 0
    api.social["p_one"] = [social("s1", "acme_baristas", "reauth_required")]
    assert cli(["sync"], api, at=DAY)[0] == 0
    api.social["p_two"] = [social("s2", f"bloom{HOSTILE}", "disconnected")]
    assert cli(["sync"], api, at=3 * DAY)[0] == 0
    return api


def test_history_survives_a_restart_newest_first(cli, recorded):
    code, out, _ = cli(["history", "--json"], at=3 * DAY + 60)
    changes = json.loads(out)["changes"]
    moves = [(c["accountId"], c["oldStatus"], c["newStatus"]) for c in changes]
    assert code == 0
    assert moves[:2] == [
        ("s2", "connected", "disconnected"),
        ("s1", "connected", "reauth_required"),
    ]
    assert changes[1]["newSeverity"] == "critical" and changes[1]["project"] == "Acme Coffee"
    assert changes[1]["at"].startswith("2026-11-21T12:00:")  # the sync paces a few seconds


def test_history_since_filters_by_time(cli, recorded):
    _, out, _ = cli(["history", "--json", "--since", "2d"], at=3 * DAY + 60)
    assert [c["accountId"] for c in json.loads(out)["changes"]] == ["s2"]
    _, out, _ = cli(["history", "--json", "--since", "1h"], at=5 * DAY)
    assert json.loads(out)["changes"] == []


def test_history_by_account_and_by_project(cli, recorded):
    _, out, _ = cli(["history", "--json", "--account", "s1"], at=4 * DAY)
    assert {c["accountId"] for c in json.loads(out)["changes"]} == {"s1"}
    _, out, _ = cli(["history", "--json", "--project", "bloom"], at=4 * DAY)
    changes = json.loads(out)["changes"]
    assert changes and {c["projectId"] for c in changes} == {"p_two"}
    code, out, err = cli(["history", "--project", "nosuch"], at=4 * DAY)
    assert code == 1 and out == "" and "no project matches 'nosuch'" in err
    code, out, _ = cli(["history", "--json", "--project", "nosuch"], at=4 * DAY)
    assert code == 1 and "nosuch" in json.loads(out)["error"]["message"]


def test_history_text_is_one_safe_line_per_change(cli, recorded):
    code, out, _ = cli(["history", "--since", "2d"], at=3 * DAY + 60)
    assert code == 0
    assert out.splitlines() == [
        "2026-11-23T12:00:06Z Bloomx␛]52;c;aGVsbG8=␇\\u009b31m / TikTok / "
        "bloomx␛]52;c;aGVsbG8=␇\\u009b31m [s2]: connected -> disconnected (off)"
    ]
    code, out, _ = cli(["history", "--json"], at=3 * DAY + 60)
    assert (
        all(b < 0x80 for b in out.encode()) and "\x1b" not in json.loads(out)["changes"][0]["name"]
    )


def test_an_empty_or_missing_store_is_not_an_error(cli):
    code, out, _ = cli(["history"])
    assert code == 0 and out == "no status changes recorded (no local store yet)\n"
    code, out, _ = cli(["journal", "--json"])
    assert code == 0
    assert json.loads(out) == {"schemaVersion": 1, "entries": [], "truncated": False}


def test_bad_since_is_a_usage_error(cli):
    with pytest.raises(SystemExit) as caught:
        cli(["history", "--since", "soon"])
    assert caught.value.code == 2


def write_journal(at: float, action: str, **detail) -> None:
    """One process: a session that records an operator action, then closes."""

    async def go() -> None:
        settings = Settings(api_key=KEY, base_url=BASE, profile="work")
        session = open_session(
            settings,
            clock=FakeClock(START + timedelta(seconds=at)),
            transport=httpx.MockTransport(world().handle),
        )
        session.journal(action, **detail)
        await session.aclose()

    asyncio.run(go())


def test_journal_survives_a_restart_with_who_and_where(cli):
    write_journal(0, "reauth:minted", project_id="p_one", account_id="s1", flow_id="f1")
    write_journal(
        2 * DAY,
        "revoke",
        project_id="p_two",
        account_id="s2",
        cancelled_posts=3,
        note=f"why{HOSTILE}",
    )
    code, out, _ = cli(["journal", "--json"], at=2 * DAY + 60)
    entries = json.loads(out)["entries"]
    assert code == 0 and [e["action"] for e in entries] == ["revoke", "reauth:minted"]
    revoke = entries[0]
    assert revoke["profile"] == "work" and revoke["host"] == "localhost"
    assert revoke["keyId"] == "test-FAKEKEY1" and revoke["accountId"] == "s2"
    assert revoke["detail"]["cancelled_posts"] == 3 and "\x1b" not in revoke["detail"]["note"]
    _, out, _ = cli(["journal", "--since", "1d"], at=2 * DAY + 60)
    assert out.splitlines() == [
        "2026-11-22T12:00:00Z revoke profile=work key=test-FAKEKEY1 host=localhost "
        "project=p_two account=s2 cancelled_posts=3 note=whyx␛]52;c;aGVsbG8=␇\\u009b31m"
    ]


def test_journal_names_projects_and_accounts_the_store_knows(cli, recorded):
    write_journal(3 * DAY + 1, "reauth:minted", project_id="p_one", account_id="s1")
    write_journal(3 * DAY + 2, "revoke", project_id="p_two", account_id="s2")
    write_journal(3 * DAY + 3, "revoke", account_id="s1")  # no project recorded
    write_journal(3 * DAY + 4, "reauth:minted", project_id="p_gone", account_id="s_gone")
    code, out, _ = cli(["journal", "--json"], at=3 * DAY + 60)
    entries = json.loads(out)["entries"]
    assert code == 0
    assert [(e["projectId"], e["project"], e["accountId"], e["accountName"]) for e in entries] == [
        ("p_gone", None, "s_gone", None),  # unknown ids: null names
        (None, None, "s1", "acme_baristas"),
        ("p_two", "Bloomx␛]52;c;aGVsbG8=␇\\u009b31m", "s2", "bloomx␛]52;c;aGVsbG8=␇\\u009b31m"),
        ("p_one", "Acme Coffee", "s1", "acme_baristas"),
    ]
    _, out, _ = cli(["journal"], at=3 * DAY + 60)
    lines = out.splitlines()
    assert "project=p_gone account=s_gone" in lines[0]  # the ids, as before
    assert lines[1].endswith(" account=acme_baristas [s1]")
    assert " project=Bloomx␛]52;c;aGVsbG8=␇\\u009b31m [p_two] " in lines[2]
    assert "\x1b" not in out and "\x9b" not in out
    assert lines[3].endswith(" project=Acme Coffee [p_one] account=acme_baristas [s1]")


def test_journal_names_an_account_no_longer_listed_from_its_history(cli, recorded):
    api = world()
    api.social["p_two"] = []  # s2 is gone from its project's list
    assert cli(["sync"], api, at=4 * DAY)[0] == 0
    write_journal(4 * DAY + 1, "revoke", project_id="p_two", account_id="s2")
    _, out, _ = cli(["journal", "--json"], at=4 * DAY + 60)
    entry = json.loads(out)["entries"][0]
    assert entry["accountId"] == "s2" and entry["accountName"].startswith("bloomx␛")
