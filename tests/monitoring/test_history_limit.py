"""`history` and `journal` cut at --limit say so on stderr (and in --json's `truncated`):
a list of exactly --limit entries, or one under it, says nothing; a bad --limit is a usage
error, never a traceback."""

from __future__ import annotations

import json

import pytest

from tests.monitoring.test_history_journal import DAY, cli, recorded, write_journal

__all__ = ["cli", "recorded"]  # fixtures


def history_lines(cli, *flags: str) -> tuple[list[str], str]:
    code, out, err = cli(["history", *flags], at=3 * DAY + 60)
    assert code == 0
    return out.splitlines(), err


def test_a_history_cut_at_the_limit_says_so_on_stderr(cli, recorded):
    everything, err = history_lines(cli, "--limit", "0")
    total = len(everything)
    assert total >= 3 and err == ""  # first sight of s1 and s2, then two moves
    lines, err = history_lines(cli, "--limit", str(total - 1))
    assert lines == everything[: total - 1]  # the newest, in order
    assert err == (
        f"layers-tui history: showing the newest {total - 1} status changes; older ones were "
        "left out (--limit N shows more, --limit 0 all, --since narrows the time)\n"
    )
    lines, err = history_lines(cli, "--limit", str(total))  # exactly all: nothing left out
    assert lines == everything and err == ""
    lines, err = history_lines(cli)  # the default limit (1000) is far above
    assert lines == everything and err == ""


def test_a_cut_history_says_so_in_json_too_and_stdout_stays_json(cli, recorded):
    code, out, err = cli(["history", "--json", "--limit", "1"], at=3 * DAY + 60)
    report = json.loads(out)
    assert code == 0 and report["truncated"] is True and len(report["changes"]) == 1
    assert "showing the newest 1 status changes" in err
    code, out, err = cli(["history", "--json", "--limit", "0"], at=3 * DAY + 60)
    assert json.loads(out)["truncated"] is False and err == ""


def test_a_history_by_project_is_cut_across_the_matched_projects(cli, recorded):
    code, out, err = cli(["history", "--project", "o", "--limit", "0"], at=3 * DAY + 60)
    everything = out.splitlines()
    assert len(everything) >= 3 and err == ""
    code, out, err = cli(["history", "--project", "o", "--limit", "2"], at=3 * DAY + 60)
    assert out.splitlines() == everything[:2] and "newest 2 status changes" in err


def test_a_cut_journal_says_so(cli):
    for at in (0, 10, 20):
        write_journal(at, "revoke", project_id="p_one", account_id="s1")
    code, out, err = cli(["journal", "--limit", "2"], at=60)
    assert code == 0 and len(out.splitlines()) == 2
    assert "layers-tui journal: showing the newest 2 entries; older ones were left out" in err
    code, out, err = cli(["journal", "--limit", "3"], at=60)
    assert len(out.splitlines()) == 3 and err == ""


@pytest.mark.parametrize("bad", ["-1", "ten", "1.5"])
def test_a_bad_limit_is_a_usage_error(cli, capsys, bad):
    with pytest.raises(SystemExit) as caught:
        cli(["history", "--limit", bad])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "is not a number of entries (0 or more; 0 for all)" in err
    assert "Traceback" not in err
