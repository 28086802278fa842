"""cli wiring of `watch --metrics HOST:PORT` and `metrics --textfile PATH` (the metrics
themselves are tested with layers_tui.metrics)."""

from __future__ import annotations

import asyncio
from collections import Counter
from urllib.request import urlopen

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from layers_tui.api.client import endpoint_template
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


def test_watch_metrics_serve_the_sessions_own_request_counts(monkeypatch):
    """`watch --metrics` serves what the running session's client counted, by endpoint
    template and status: every request the API saw, none of its ids."""
    import layers_tui.metrics as metrics
    import layers_tui.watch as watch

    api = FakeApi()
    api.add_project("prj_alpha", "Alpha")
    api.add_project("prj_beta", "Beta")
    servers = []
    scraped: list[str] = []

    def serving(address, session, requests=None, **options):
        server = real_serve(address, session, requests, **options)
        servers.append(server)
        return server

    async def one_pass(session, *_):  # watch, cut to one pass
        await session.identify()
        await session.inventory.refresh()
        servers[0].producer.produce()  # as its thread would once the store changed
        host, port = servers[0].address
        url = f"http://{host}:{port}/metrics"
        scraped.append(await asyncio.to_thread(lambda: urlopen(url, timeout=10).read().decode()))
        return 0

    real_serve = metrics.serve
    monkeypatch.setattr(metrics, "serve", serving)
    monkeypatch.setattr(watch, "run_watch", one_pass)
    monkeypatch.setenv("LAYERS_API_KEY", KEY)
    monkeypatch.setenv("LAYERS_BASE_URL", BASE)
    code = main(
        ["watch", "--metrics", "127.0.0.1:0"],
        transport=httpx.MockTransport(api.handle),
        clock=FakeClock(START),
    )
    assert code == 0 and scraped
    served = {
        (s.labels["endpoint"], s.labels["method"], s.labels["code"]): s.value
        for family in text_string_to_metric_families(scraped[0])
        for s in family.samples
        if s.name == "layers_api_requests_total"
    }
    seen = Counter((endpoint_template(path), "GET", "200") for path in api.paths)
    assert served == {key: float(count) for key, count in seen.items()}
    assert ("/v1/projects/{id}/social-accounts", "GET", "200") in served
    assert not any("prj_" in endpoint for endpoint, _, _ in served)
