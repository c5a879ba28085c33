"""`/metrics`: path classes, the documented names, values that move, and valid Prometheus text."""

from dataclasses import fields
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from chathub import commands as cmd
from chathub.hub import Hub
from chathub.limits import Counters
from chathub.metrics import PATH_CLASSES, ROOM_PATHS, TRANSPORTS, Metrics, path_class
from chathub.store import MemoryStore, StoreHealth
from tests.recording import RecordingClient

CLASSES = {"page", "other", *(name for _, name in PATH_CLASSES), *ROOM_PATHS.values()}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(metrics: Metrics) -> Samples:
    """Every sample of `/metrics`, parsed by prometheus_client's own parser."""
    text = metrics.text().decode("utf-8")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


class FailingStore(MemoryStore):
    """A store whose writes are failing with rows waiting."""

    def health(self) -> StoreHealth:
        return StoreHealth(ok=False, pending=7, error="disk full")


# --- path classes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (b"/", "page"),
        (b"/?utm=x", "page"),
        (b"/api/rooms/dev/messages", "api_messages"),
        (b"/api/rooms/dev/messages?since=3&limit=10", "api_messages"),
        (b"/api/rooms/dev/events", "sse"),
        (b"/api/rooms/dev/events/", "sse"),
        (b"/api/events?rooms=a,b", "sse"),
        (b"/api/session", "api_session"),
        (b"/api/rooms", "api"),
        (b"/api/rooms/dev", "api"),
        (b"/api/nothing", "api"),
        (b"/rooms/dev", "transcript"),
        (b"/static/chat.js", "static"),
        (b"/ws", "ws"),
        (b"/ws?nick=alice&rooms=dev", "ws"),
        (b"/counter", "counter"),
        (b"/healthz", "health"),
    ],
)
def test_each_kind_of_path_has_its_class(path: bytes, expected: str):
    """Every documented path maps to its class, whatever its room or query."""
    assert path_class(path) == expected


@pytest.mark.parametrize(
    "path", [b"", b"/wp-login.php", b"/wsx", b"/counterfeit", b"/healthzz", b"/\xff\xfe", b"x"]
)
def test_an_unknown_path_is_other(path: bytes):
    """A path that names no page (a look-alike prefix included) is `other`."""
    assert path_class(path) == "other"


@given(st.binary(max_size=80))
def test_no_path_ever_becomes_a_label_of_its_own(path: bytes):
    """Whatever the path, its class is one of the fixed names."""
    assert path_class(path) in CLASSES


def test_request_counts_are_by_class_and_status_never_by_raw_path():
    """Requests to fifty rooms make one series per class and status, naming no room."""
    metrics = Metrics(Hub(MemoryStore()), lambda: 0.0)
    for n in range(50):
        metrics.count_request(SimpleNamespace(uri=f"/api/rooms/r{n}/messages".encode(), code=200))
    metrics.count_request(SimpleNamespace(uri=b"/api/rooms/bad!/messages", code=400))
    metrics.count_request(SimpleNamespace(uri=b"/nope/room-secret", code=404))
    found = samples(metrics)
    requests = {labels: v for (name, labels), v in found.items()}
    assert value(found, "chathub_http_requests_total", path="api_messages", status="200") == 50
    assert value(found, "chathub_http_requests_total", path="api_messages", status="400") == 1
    assert value(found, "chathub_http_requests_total", path="other", status="404") == 1
    series = [k for k in found if k[0] == "chathub_http_requests_total"]
    assert len(series) == 3
    assert not any("r1" in str(labels) or "secret" in str(labels) for labels in requests)


# --- the text ---------------------------------------------------------------------------------


def test_the_text_has_every_documented_name_and_parses():
    """The documented families are there, with every transport and every limit, and parse."""
    metrics = Metrics(Hub(MemoryStore()), lambda: 0.0)
    metrics.count_request(SimpleNamespace(uri=b"/", code=200))
    found = samples(metrics)
    for transport in TRANSPORTS:
        for name in (
            "chathub_connections",
            "chathub_connections_opened_total",
            "chathub_messages_in_total",
            "chathub_deliveries_total",
        ):
            assert value(found, name, transport=transport) == 0
    assert set(TRANSPORTS) == {"telnet", "ws", "sse", "http"}
    for field in fields(Counters):
        assert value(found, "chathub_limit_trips_total", limit=field.name) == 0
    for name in ("chathub_store_pending", "chathub_event_loop_lag_seconds", "chathub_store_ok"):
        assert (name, ()) in found
    assert value(found, "chathub_http_requests_total", path="page", status="200") == 1
    for name in (
        "chathub_process_cpu_seconds_total",
        "chathub_process_resident_memory_bytes",
        "chathub_process_open_fds",
        "chathub_process_start_time_seconds",
    ):
        assert found[(name, ())] > 0


def test_every_name_starts_with_chathub_and_counters_end_in_total():
    """Each family is `chathub_...`; each counter sample is `..._total` (or its `_created`)."""
    metrics = Metrics(Hub(MemoryStore()), lambda: 0.0)
    metrics.count_request(SimpleNamespace(uri=b"/", code=200))
    families = list(text_string_to_metric_families(metrics.text().decode()))
    assert families
    for family in families:
        assert family.name.startswith("chathub_"), family.name
        if family.type == "counter":
            for sample in family.samples:
                assert sample.name.endswith(("_total", "_created")), sample.name


def test_values_move_when_the_hub_does_something():
    """Connections, messages in, deliveries, limit trips and rooms follow what the hub did."""
    hub = Hub(MemoryStore())
    metrics = Metrics(hub, lambda: 0.0)
    telnet = [hub.connect(RecordingClient("telnet"), nick, ["dev"]) for nick in ("t1", "t2")]
    ws = hub.connect(RecordingClient(transport_name="ws"), "w1", ["dev"])
    before = samples(metrics)
    hub.handle(telnet[0], cmd.Say("hello"))
    hub.handle(ws, cmd.Me("waves"))
    hub.counters.rate_limited += 2
    hub.disconnect(telnet[1])
    after = samples(metrics)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert value(before, "chathub_connections", transport="telnet") == 2
    assert moved("chathub_connections", transport="telnet") == -1
    assert value(after, "chathub_connections_opened_total", transport="telnet") == 2
    assert moved("chathub_messages_in_total", transport="telnet") == 1
    assert moved("chathub_messages_in_total", transport="ws") == 1
    # Two messages to a room of two telnet members and one ws member (4 and 2), then t2's part
    # to the two members left (1 and 1).
    assert moved("chathub_deliveries_total", transport="telnet") == 5
    assert moved("chathub_deliveries_total", transport="ws") == 3
    assert moved("chathub_limit_trips_total", limit="rate_limited") == 2
    assert value(after, "chathub_rooms") == 1
    assert value(after, "chathub_sessions") == 2


def test_the_store_and_the_lag_are_read_when_scraped():
    """`chathub_store_pending`, `chathub_store_ok` and the loop lag show their current values."""
    lag = [0.0]
    metrics = Metrics(Hub(FailingStore()), lambda: lag[0])
    lag[0] = 1.5
    found = samples(metrics)
    assert value(found, "chathub_store_pending") == 7
    assert value(found, "chathub_store_ok") == 0
    assert value(found, "chathub_event_loop_lag_seconds") == 1.5


def test_two_hubs_in_one_process_keep_their_own_numbers():
    """Each Metrics has its own registry: one hub's traffic never shows in another's text."""
    busy, idle = Hub(MemoryStore()), Hub(MemoryStore())
    busy_metrics, idle_metrics = Metrics(busy, lambda: 0.0), Metrics(idle, lambda: 0.0)
    busy.connect(RecordingClient(transport_name="ws"), "alice")
    busy_metrics.count_request(SimpleNamespace(uri=b"/", code=200))
    assert value(samples(busy_metrics), "chathub_connections", transport="ws") == 1
    quiet = samples(idle_metrics)
    assert value(quiet, "chathub_connections", transport="ws") == 0
    assert not any(name == "chathub_http_requests_total" for name, _ in quiet)
