"""The admin port's resources (`/metrics`, `/livez`, `/readyz`) over treq's in-memory HTTP."""

import json
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from treq.testing import StubTreq
from twisted.internet.task import Clock, LoopingCall

from chathub.admin import LAG_SECONDS, LIVE_SECONDS, PROMETHEUS_TEXT, Readiness, make_admin_site
from chathub.hub import Hub
from chathub.metrics import Metrics
from chathub.service import LagMonitor
from chathub.store import MemoryStore

Response = tuple[int, dict[bytes, list[bytes]], bytes]


def admin(readiness: Readiness) -> StubTreq:
    metrics = Metrics(Hub(MemoryStore()), lambda: 0.0)
    return StubTreq(make_admin_site(metrics, readiness).resource)


def get(http: StubTreq, path: str) -> Response:
    """GET `path`: (status, headers, body), synchronously."""
    results: list[tuple[Any, bytes]] = []
    deferred = http.get("http://localhost" + path)
    deferred.addCallback(lambda r: http.content(r).addCallback(lambda b: results.append((r, b))))
    http.flush()
    response, body = results[0]
    return response.code, dict(response.headers.getAllRawHeaders()), body


def get_json(http: StubTreq, path: str) -> tuple[int, Any]:
    code, headers, body = get(http, path)
    assert headers[b"Content-Type"] == [b"application/json; charset=utf-8"]
    return code, json.loads(body)


# --- /readyz ----------------------------------------------------------------------------------


def test_readyz_is_200_once_listening():
    """With every listener up and nothing failing, /readyz is 200 `ready`."""
    code, body = get_json(admin(Readiness(listening=True)), "/readyz")
    assert (code, body) == (200, {"status": "ready"})


def test_readyz_is_503_before_the_listeners_are_up():
    """Before listen() finished, /readyz is 503 and says it is not listening yet."""
    code, body = get_json(admin(Readiness()), "/readyz")
    assert code == 503
    assert body == {"status": "not ready", "problems": ["not listening yet"]}


def test_readyz_turns_503_as_soon_as_draining_starts():
    """Setting `draining` turns the very next /readyz into 503 with the reason."""
    readiness = Readiness(listening=True)
    http = admin(readiness)
    assert get_json(http, "/readyz")[0] == 200
    readiness.draining = True
    code, body = get_json(http, "/readyz")
    assert code == 503
    assert body["problems"] == ["draining: shutting down"]


def test_readyz_is_503_while_the_store_fails_and_200_again_when_it_recovers():
    """A store whose writes fail makes /readyz 503 naming history; recovery makes it 200."""
    store_ok = [False]
    http = admin(Readiness(listening=True, store_ok=lambda: store_ok[0]))
    code, body = get_json(http, "/readyz")
    assert code == 503
    assert body["problems"] == ["history cannot be written"]
    store_ok[0] = True
    assert get_json(http, "/readyz")[0] == 200


def test_readyz_lists_every_problem_at_once():
    """Several problems at once are all named, the backplane's included."""
    readiness = Readiness(
        listening=False, draining=True, store_ok=lambda: False, backplane_ok=lambda: False
    )
    code, body = get_json(admin(readiness), "/readyz")
    assert code == 503
    assert body["problems"] == [
        "not listening yet",
        "draining: shutting down",
        "history cannot be written",
        "the backplane is unreachable",
    ]


def test_probe_answers_are_never_cached():
    """/readyz and /livez say `cache-control: no-store`: a cached probe would be a lie."""
    http = admin(Readiness(listening=True))
    for path in ("/readyz", "/livez"):
        assert get(http, path)[1][b"Cache-Control"] == [b"no-store"]


# --- /livez -----------------------------------------------------------------------------------


def test_livez_is_200_while_the_lag_check_ticks_and_503_once_it_stopped():
    """/livez follows the lag monitor's last tick on the reactor's clock, not wall time."""
    clock = Clock()
    monitor = LagMonitor(clock)
    checking = LoopingCall(monitor.tick)
    checking.clock = clock
    checking.start(LAG_SECONDS)
    http = admin(Readiness(listening=True, last_tick=lambda: monitor.last_tick, now=clock.seconds))
    for _ in range(60):  # half a minute of a turning reactor
        clock.advance(LAG_SECONDS)
    assert get_json(http, "/livez") == (200, {"status": "alive"})

    checking.stop()  # the reactor is stuck: no more ticks
    clock.advance(LIVE_SECONDS - 1)
    assert get_json(http, "/livez")[0] == 200
    clock.advance(2)
    assert get_json(http, "/livez") == (503, {"status": "stalled"})


def test_livez_does_not_care_about_readiness():
    """A draining, store-failing process that still turns is alive: restarting it helps no one."""
    readiness = Readiness(listening=True, draining=True, store_ok=lambda: False)
    assert get_json(admin(readiness), "/livez")[0] == 200


# --- /metrics and the rest --------------------------------------------------------------------


def test_metrics_is_prometheus_text_that_parses():
    """/metrics answers the Prometheus text content type and a body its parser reads."""
    code, headers, body = get(admin(Readiness(listening=True)), "/metrics")
    assert code == 200
    assert headers[b"Content-Type"] == [PROMETHEUS_TEXT]
    assert PROMETHEUS_TEXT == b"text/plain; version=0.0.4; charset=utf-8"
    assert headers[b"Cache-Control"] == [b"no-store"]
    names = {family.name for family in text_string_to_metric_families(body.decode())}
    assert {"chathub_connections", "chathub_messages_in", "chathub_ready"} <= names


def test_the_ready_gauge_says_what_readyz_says():
    """`chathub_ready` is 1 while /readyz is 200 and 0 once it is 503."""
    readiness = Readiness(listening=True)
    http = admin(readiness)
    assert b"\nchathub_ready 1.0\n" in get(http, "/metrics")[2]
    readiness.draining = True
    assert b"\nchathub_ready 0.0\n" in get(http, "/metrics")[2]


@pytest.mark.parametrize(
    "path", ["/", "/healthz", "/nope", "/metrics/x", "/readyz/", "/livez/deep/er", "/metricsx"]
)
def test_any_other_path_is_a_json_404(path: str):
    """Paths other than the three, under them included, are 404 with a JSON error."""
    code, body = get_json(admin(Readiness(listening=True)), path)
    assert code == 404
    assert body["error"] == "not-found"
    assert "/metrics" in body["message"]
