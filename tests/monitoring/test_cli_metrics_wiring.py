"""cli wiring of `watch --metrics HOST:PORT` and `metrics --textfile PATH` (the metrics
themselves are tested with layers_tui.metrics)."""

from __future__ import annotations

import httpx
import pytest

from layers_tui.cli import main
from layers_tui.clock import FakeClock
from tests.conftest import BASE, START
from tests.unit.fake_api import KEY, FakeApi

pytest.importorskip("layers_tui.metrics")


def test_watch_with_an_unusable_metrics_address_says_so_and_exits_2(monkeypatch, capsys):
    monkeypatch.setenv("LAYERS_API_KEY", KEY)
    monkeypatch.setenv("LAYERS_BASE_URL", BASE)
    code = main(
        ["watch", "--metrics", "no-port-here"],
        transport=httpx.MockTransport(FakeApi().handle),
        clock=FakeClock(START),
    )
    err = capsys.readouterr().err
    assert code == 2 and "--metrics no-port-here" in err and "Traceback" not in err


def test_metrics_textfile_is_written(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("LAYERS_API_KEY", KEY)
    target = tmp_path / "layers.prom"
    assert main(["metrics", "--textfile", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    assert "layers_up" in text and "s3cretvalue" not in text + capsys.readouterr().err
