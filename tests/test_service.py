"""The wiring: one listener per row of the transport table, and bind errors that name it."""

import json
from dataclasses import fields, replace

import pytest
from twisted.internet.defer import ensureDeferred
from twisted.internet.testing import MemoryReactorClock

from chathub.config import Config, ListenSettings
from chathub.service import TRANSPORTS, BindError, ChathubService, with_backlog
from chathub.store import MemoryStore


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
    config = listening_on({"telnet": "tcp:1025", "web": "tcp:8080"}, tmp_path)
    service = ChathubService(reactor, config, store=MemoryStore())
    bound = ensureDeferred(service.listen()).result  # a memory reactor binds at once
    assert list(bound) == [transport.name for transport in TRANSPORTS] == ["telnet", "web"]
    assert [port for port, *_ in reactor.tcpServers] == [1025, 8080]
    assert json.loads((tmp_path / "ports.json").read_text()) == bound


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
    """Both listeners are bound with --listen-backlog; an endpoint's own backlog= wins."""
    reactor = MemoryReactorClock()
    config = listening_on({"telnet": "tcp:1025:backlog=7", "web": "tcp:8080"}, tmp_path)
    config = replace(config, listen=replace(config.listen, listen_backlog=300))
    ensureDeferred(ChathubService(reactor, config, store=MemoryStore()).listen())
    assert [(port, backlog) for port, _f, backlog, _i in reactor.tcpServers] == [
        (1025, 7),
        (8080, 300),
    ]
