"""The wiring: one listener per row of the transport table, and bind errors that name it."""

import json
from dataclasses import fields, replace

import pytest
from twisted.internet.defer import ensureDeferred
from twisted.internet.testing import MemoryReactorClock

from chathub.admin import LAG_SECONDS
from chathub.config import Config, ListenSettings
from chathub.events import Notice
from chathub.hub import Hub
from chathub.service import TRANSPORTS, BindError, ChathubService, LagMonitor, with_backlog
from chathub.store import MemoryStore
from tests.recording import RecordingClient


def listening_on(endpoints: dict[str, str], tmp_path) -> Config:
    listen = replace(ListenSettings(), ports_file=str(tmp_path / "ports.json"), **endpoints)
    return replace(Config(), listen=listen)


def test_every_transport_names_a_listen_setting_and_names_are_unique():
    """Each row's endpoint is a key of ListenSettings, and no two rows share a name or key."""
    keys = {f.name for f in fields(ListenSettings)}
    assert all(transport.endpoint in keys for transport in TRANSPORTS)
    assert (
        len({t.name for t in TRANSPORTS})
        == len({t.endpoint for t in TRANSPORTS})
        == len(TRANSPORTS)
    )


def test_the_service_listens_once_per_transport_and_writes_the_ports_file(tmp_path):
    """listen() binds one port per row, in the table's order, and writes them as JSON."""
    reactor = MemoryReactorClock()
    config = listening_on({"telnet": "tcp:1025", "web": "tcp:8080", "admin": "tcp:9180"}, tmp_path)
    service = ChathubService(reactor, config, store=MemoryStore())
    bound = ensureDeferred(service.listen()).result  # a memory reactor binds at once
    names = [transport.name for transport in TRANSPORTS]
    assert list(bound) == names == ["telnet", "web", "admin"]
    assert [port for port, *_ in reactor.tcpServers] == [1025, 8080, 9180]
    assert json.loads((tmp_path / "ports.json").read_text()) == bound


def test_an_endpoint_of_none_is_not_served(tmp_path):
    """`--admin none` turns the admin port off: no listener, no entry in the ports file."""
    reactor = MemoryReactorClock()
    config = listening_on({"telnet": "tcp:1025", "web": "tcp:8080", "admin": "none"}, tmp_path)
    service = ChathubService(reactor, config, store=MemoryStore())
    bound = ensureDeferred(service.listen()).result
    assert list(bound) == ["telnet", "web"]


def test_a_bad_endpoint_is_a_bind_error_naming_the_transport(tmp_path):
    """An endpoint string Twisted cannot parse stops listen() with one line naming it."""
    config = listening_on({"web": "nonsense:1"}, tmp_path)
    service = ChathubService(MemoryReactorClock(), config, store=MemoryStore())
    failed = ensureDeferred(service.listen())
    problem = failed.result.value
    failed.addErrback(lambda _: None)  # handled: no "unhandled error" at garbage collection
    assert isinstance(problem, BindError)
    assert str(problem).startswith("cannot listen for web on nonsense:1: ")
    assert not (tmp_path / "ports.json").exists()


# --- the drain --------------------------------------------------------------------------------


class LeavingClient(RecordingClient):
    """A connection that goes when asked to close, noting when that was."""

    def __init__(self, transport: str, hub: Hub, clock: MemoryReactorClock) -> None:
        super().__init__(transport_name=transport)
        self.hub, self.clock = hub, clock
        self.closed_at: float | None = None

    def close(self) -> None:
        self.closed, self.closed_at = True, self.clock.seconds()
        session = next(s for s in self.hub.sessions.values() if s.client is self)
        self.hub.disconnect(session)


def drained_service(tmp_path, drain: float, clients: int):
    reactor = MemoryReactorClock()
    listen = replace(
        ListenSettings(), telnet="tcp:1025", web="tcp:8080", admin="tcp:9180", drain_seconds=drain
    )
    service = ChathubService(reactor, replace(Config(), listen=listen), store=MemoryStore())
    ensureDeferred(service.listen())
    service.startService()
    everyone = []
    for n in range(clients):
        client = LeavingClient("telnet" if n % 2 else "ws", service.hub, reactor)
        service.hub.connect(client, nick=f"user{n}")
        everyone.append(client)
    reactor.advance(0)
    return reactor, service, everyone


def test_shutdown_is_not_ready_at_once_and_closes_clients_spread_over_the_drain(tmp_path):
    """SIGTERM's drain: /readyz fails at once, every client is told, then closed in slices."""
    reactor, service, everyone = drained_service(tmp_path, drain=4.0, clients=200)
    assert service.readiness.problems() == []
    done = ensureDeferred(service.shutdown())
    assert service.readiness.problems() == ["draining: shutting down"]
    assert all(c.items[-1] == Notice("server shutting down") for c in everyone)
    while not done.called and reactor.seconds() < 10:
        reactor.advance(0.05)
    assert done.result == 0
    closes = sorted(c.closed_at for c in everyone if c.closed_at is not None)
    assert len(closes) == 200
    assert 2.5 <= closes[-1] - closes[0] <= 4.0  # spread over most of the drain
    assert len(set(closes)) > 20  # in many slices, not all at once
    assert reactor.seconds() <= 4.0 + 1.0 + 0.1
    for client in everyone:
        notices = [i for i in client.items if i == Notice("server shutting down")]
        assert len(notices) == 1


class SlowLeavingClient(LeavingClient):
    """Closing it takes 10 ms of the reactor's time (a busy process)."""

    def close(self) -> None:
        super().close()
        self.clock.rightNow += 0.01


def test_the_work_of_closing_does_not_push_the_drain_past_its_time(tmp_path):
    """Slices keep their times from the start of the drain, however long closing takes."""
    reactor = MemoryReactorClock()
    listen = replace(
        ListenSettings(), telnet="tcp:1025", web="none", admin="none", drain_seconds=4.0
    )
    service = ChathubService(reactor, replace(Config(), listen=listen), store=MemoryStore())
    service.startService()
    everyone = [SlowLeavingClient("telnet", service.hub, reactor) for _ in range(200)]
    for n, client in enumerate(everyone):
        service.hub.connect(client, nick=f"user{n}")
    began = reactor.seconds()
    done = ensureDeferred(service.shutdown())  # 32 slices of 7 clients, 70 ms of work each
    while not done.called and reactor.seconds() < began + 20:
        reactor.advance(0.01)
    last = max(c.closed_at for c in everyone if c.closed_at is not None)
    assert last - began <= 4.0 * 0.8 + 0.1
    assert reactor.seconds() - began <= 4.0 + 1.0


def test_the_admin_port_and_the_lag_check_stay_up_until_the_drain_ends(tmp_path):
    """While clients are closed, the public listeners are gone but /readyz can still say 503."""
    reactor, service, _ = drained_service(tmp_path, drain=2.0, clients=50)
    ports = {listener.name: listener for listener in service.listeners}
    done = ensureDeferred(service.shutdown())
    reactor.advance(1.0)
    assert not done.called
    assert ports["telnet"].port is None and ports["web"].port is None
    assert ports["admin"].port is not None
    assert service.lag.last_tick >= reactor.seconds() - 0.5  # still ticking
    assert service.readiness.alive()
    while not done.called and reactor.seconds() < 10:
        reactor.advance(0.05)
    assert ports["admin"].port is None
    assert not service.running


# --- the lag monitor --------------------------------------------------------------------------


def test_the_lag_monitor_reads_zero_when_timers_run_on_time():
    """Ticks every LAG_SECONDS on the dot: no lag, and `last_tick` follows the clock."""
    clock = MemoryReactorClock()
    monitor = LagMonitor(clock)
    for _ in range(10):
        clock.advance(LAG_SECONDS)
        monitor.tick()
        assert monitor.lag() == 0.0
    assert monitor.last_tick == clock.seconds()


def test_the_lag_monitor_reads_how_late_a_tick_came():
    """A tick 2 s past due reads 2 s of lag; the next tick on time reads 0 again."""
    clock = MemoryReactorClock()
    monitor = LagMonitor(clock)
    clock.advance(LAG_SECONDS + 2.0)
    monitor.tick()
    assert monitor.lag() == pytest.approx(2.0)
    clock.advance(LAG_SECONDS)
    monitor.tick()
    assert monitor.lag() == 0.0


@pytest.mark.parametrize(
    ("description", "result"),
    [
        ("tcp:1025", "tcp:1025:backlog=4096"),
        ("tcp:0:interface=127.0.0.1", "tcp:0:interface=127.0.0.1:backlog=4096"),
        ("tcp6:0:interface=\\:\\:1", "tcp6:0:interface=\\:\\:1:backlog=4096"),
        ("ssl:8443:privateKey=k.pem", "ssl:8443:privateKey=k.pem:backlog=4096"),
        ("unix:/run/chat.sock", "unix:/run/chat.sock:backlog=4096"),
        ("tcp:1025:backlog=10", "tcp:1025:backlog=10"),
        ("systemd:domain=INET:index=0", "systemd:domain=INET:index=0"),
    ],
)
def test_with_backlog_adds_the_setting_unless_the_endpoint_says_it(description, result):
    """tcp:, tcp6:, ssl: and unix: get `:backlog=N`; one that gives its own, or another kind
    of endpoint, is left as it is."""
    assert with_backlog(description, 4096) == result


def test_listeners_get_the_listen_backlog(tmp_path):
    """Every listener is bound with --listen-backlog; an endpoint's own backlog= wins."""
    reactor = MemoryReactorClock()
    endpoints = {"telnet": "tcp:1025:backlog=7", "web": "tcp:8080", "admin": "none"}
    config = listening_on(endpoints, tmp_path)
    config = replace(config, listen=replace(config.listen, listen_backlog=300))
    ensureDeferred(ChathubService(reactor, config, store=MemoryStore()).listen())
    assert [(port, backlog) for port, _f, backlog, _i in reactor.tcpServers] == [
        (1025, 7),
        (8080, 300),
    ]
