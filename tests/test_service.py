"""The wiring: one listener per row of the transport table, and bind errors that name it."""

import json
from dataclasses import fields, replace

from twisted.internet.defer import ensureDeferred
from twisted.internet.testing import MemoryReactorClock

from chathub.config import Config, ListenSettings
from chathub.service import TRANSPORTS, BindError, ChathubService
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
