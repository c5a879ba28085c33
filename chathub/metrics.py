"""Prometheus metrics: what `/metrics` on the admin port shows, on a registry of chathub's own.

Rules:
- Names start with `chathub_`; counters end in `_total`; a `transport` label says `telnet`,
  `ws`, `sse` or `http`.
- Most values are read when scraped, from the state the hub, store and streams keep anyway
  (`Counters`, `Traffic`, the store's health): nothing on the hot path touches Prometheus.
  Only what has no other home is kept here: HTTP requests by path class and status, store
  commit times, and the event loop's lag.
- The registry is chathub's own (not the global one), so tests and several hubs in one process
  never mix their numbers; process metrics (CPU, memory, descriptors) come with it.
"""

from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from chathub.hub import Hub

TRANSPORTS = ("telnet", "ws", "sse", "http")

# Path classes for HTTP request counts: a label per kind of page, never the raw path (each
# room would be a series of its own). A class is a path and everything under it (`/ws`, not
# `/wsx`); `/api/rooms/ROOM/messages` and `/api/rooms/ROOM/events` are told apart first.
PATH_CLASSES = (
    ("/api/events", "sse"),
    ("/api/session", "api_session"),
    ("/api", "api"),
    ("/rooms", "transcript"),
    ("/static", "static"),
    ("/ws", "ws"),
    ("/counter", "counter"),
    ("/healthz", "health"),
)
ROOM_PATHS = {"messages": "api_messages", "events": "sse"}


def path_class(path: bytes) -> str:
    text = path.split(b"?", 1)[0].decode("ascii", "replace")
    if text == "/":
        return "page"
    parts = text.rstrip("/").split("/")
    if len(parts) == 5 and parts[:3] == ["", "api", "rooms"] and parts[4] in ROOM_PATHS:
        return ROOM_PATHS[parts[4]]
    for prefix, name in PATH_CLASSES:
        if text == prefix or text.startswith(prefix + "/"):
            return name
    return "other"


class HubCollector(Collector):
    """Reads the hub's, the store's and the traffic's numbers at scrape time."""

    def __init__(self, hub: Hub, lag: Callable[[], float]) -> None:
        self.hub = hub
        self.lag = lag

    def collect(self) -> Iterator[Metric]:
        hub = self.hub
        traffic = hub.traffic
        connections = GaugeMetricFamily(
            "chathub_connections", "Open client connections.", labels=["transport"]
        )
        opened = CounterMetricFamily(
            "chathub_connections_opened", "Client connections opened.", labels=["transport"]
        )
        messages = CounterMetricFamily(
            "chathub_messages_in", "Messages received from clients.", labels=["transport"]
        )
        deliveries = CounterMetricFamily(
            "chathub_deliveries", "Events delivered to clients.", labels=["transport"]
        )
        for transport in TRANSPORTS:
            connections.add_metric([transport], traffic.connections[transport])
            opened.add_metric([transport], traffic.connections_opened[transport])
            messages.add_metric([transport], traffic.messages_in[transport])
            deliveries.add_metric([transport], traffic.deliveries[transport])
        yield from (connections, opened, messages, deliveries)

        limits = CounterMetricFamily(
            "chathub_limit_trips",
            "Times a limit refused, slowed, skipped or cut something (see README, Limits).",
            labels=["limit"],
        )
        for name, value in asdict(hub.counters).items():
            limits.add_metric([name], value)
        yield limits

        health = hub.store.health()
        yield GaugeMetricFamily(
            "chathub_store_pending", "Rows and counters not yet written.", value=health.pending
        )
        yield GaugeMetricFamily(
            "chathub_store_ok", "1 while history writes succeed.", value=1 if health.ok else 0
        )
        yield GaugeMetricFamily("chathub_rooms", "Rooms with members.", value=len(hub.members))
        yield GaugeMetricFamily("chathub_sessions", "Connected clients.", value=len(hub.sessions))
        yield GaugeMetricFamily(
            "chathub_event_loop_lag_seconds",
            "How late the reactor ran a timer, at the last check.",
            value=self.lag(),
        )


class Metrics:
    """chathub's registry, and the few metrics that are counted as things happen."""

    def __init__(self, hub: Hub, lag: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(HubCollector(hub, lag))
        ProcessCollector(namespace="chathub", registry=self.registry)
        self.http_requests = Counter(
            "chathub_http_requests",
            "HTTP requests answered, by kind of path and status.",
            ["path", "status"],
            registry=self.registry,
        )
        self.store_commit_seconds = Histogram(
            "chathub_store_commit_seconds",
            "How long one history transaction took.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.up = Gauge("chathub_ready", "1 while ready for clients.", registry=self.registry)

    def count_request(self, request: Any) -> None:
        """A finished HTTP request (twisted.web's `Request`), by kind of path and status."""
        self.http_requests.labels(path_class(request.uri or b""), str(request.code)).inc()

    def text(self) -> bytes:
        return generate_latest(self.registry)
