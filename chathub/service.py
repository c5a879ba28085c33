"""Wiring: one Hub, one store, and a listener per transport, all under one MultiService.

Rules:
- The Hub is made here, once, and handed to every factory.
- Listeners come from TRANSPORTS, one row per protocol: its name (in errors, logs and the ports
  file), the `ListenSettings` key of its endpoint, and how to make its factory. Adding a protocol
  is adding a row (and its endpoint setting), nothing else.
- Listeners are Twisted endpoint strings. `listen()` is awaited, never fire-and-forget: a port
  that cannot be bound is an exception for the caller (the command line turns it into an exit
  code), never a logged error with the process left running without its listener.
- A tcp:, tcp6:, ssl: or unix: listener gets `--listen-backlog` as its accept queue unless its
  endpoint string says `backlog=` itself (Twisted's default of 50 resets or strands the
  connections of a reconnecting crowd).
- Shutdown: stop accepting, tell every client, wait (briefly) for their output to drain, then
  close the store so history is flushed.
"""

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.application.internet import TimerService
from twisted.application.service import MultiService, Service
from twisted.internet import defer, task
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IReactorTime
from twisted.logger import Logger

from chathub.config import Config, StoreSettings
from chathub.hub import Hub
from chathub.line import LineFactory
from chathub.sqlite import SqliteStore
from chathub.store import MemoryStore, Store
from chathub.tls import check_tls_endpoint
from chathub.web import make_site
from chathub.websocket import WebSocketFactory

log = Logger()

# How long shutdown waits for clients to take their last lines before the reactor stops.
DRAIN_SECONDS = 2.0
# How often retention runs (it deletes in bounded batches off the reactor thread).
PRUNE_SECONDS = 60.0


class BindError(Exception):
    """A listener could not be started; the message says which and why, in one line."""


@dataclass(frozen=True)
class Transport:
    """One protocol the service listens for: a row of TRANSPORTS."""

    name: str  # in errors, logs and the ports file
    endpoint: str  # the `ListenSettings` key of its endpoint string
    make_factory: Callable[[Hub, Config, Any], IProtocolFactory]  # (hub, config, reactor)


def telnet_factory(hub: Hub, config: Config, reactor: Any) -> IProtocolFactory:
    return LineFactory(hub, config.line.max_line, config.flow, reactor)


def web_factory(hub: Hub, config: Config, reactor: Any) -> IProtocolFactory:
    """The page, the API and `/ws` on one site, behind the HTTP channel's limits."""
    websocket = WebSocketFactory(hub, reactor, config.websocket, config.flow)
    return make_site(hub, websocket, config.http, reactor, config.flow.slow_timeout)


# In start-up order; the ports file lists them in this order too.
TRANSPORTS = (
    Transport("telnet", "telnet", telnet_factory),
    Transport("web", "web", web_factory),
)


# The kinds of endpoint string that take `backlog=`.
_BACKLOG_KINDS = ("tcp", "tcp6", "ssl", "unix")


def with_backlog(description: str, backlog: int) -> str:
    """`description` with `:backlog=N` added when its kind takes one and it gives none."""
    kind = description.split(":", 1)[0].strip().lower()
    if kind not in _BACKLOG_KINDS:
        return description
    segments = re.split(r"(?<!\\):", description)[1:]  # a `\:` is a colon inside a value
    if any(segment.strip().startswith("backlog=") for segment in segments):
        return description
    return f"{description}:backlog={backlog}"


class ListenerService(Service):
    """Listens on one endpoint string with one factory, and stops listening when stopped."""

    def __init__(
        self, name: str, description: str, factory: IProtocolFactory, backlog: int | None = None
    ) -> None:
        self.name: str = name  # what setName() does for a service without a parent yet
        self.description = description
        self.factory = factory
        self.backlog = backlog  # the accept queue, unless the description gives one
        self.port: IListeningPort | None = None

    async def listen(self, reactor: Any) -> IListeningPort:
        """Start listening; returns the listening port or raises `BindError`."""
        try:
            check_tls_endpoint(self.description)  # names the bad file, which Twisted does not
            description = self.description
            if self.backlog is not None:
                description = with_backlog(description, self.backlog)
            endpoint = serverFromString(reactor, description)
            self.port = await endpoint.listen(self.factory)
        except Exception as problem:  # bad strings, bad certificates, busy ports: all fatal
            raise BindError(
                f"cannot listen for {self.name} on {self.description}: {problem}"
            ) from problem
        return self.port

    def bound_port(self) -> int | str | None:
        """The TCP port actually bound (useful with port 0), or the socket path for unix:."""
        if self.port is None:
            return None
        host = self.port.getHost()
        return getattr(host, "port", None) or getattr(host, "name", None)

    def stopService(self) -> Any:
        super().stopService()  # type: ignore[no-untyped-call]  # inherited, unannotated
        if self.port is not None:
            port, self.port = self.port, None
            return port.stopListening()
        return None


def open_store(config: StoreSettings, reactor: Any) -> Store:
    """The history store for `--db`: SQLite in a file, or memory only for `:memory:`.

    Raises `StoreError` (one line) when the file is damaged, locked or cannot be written.
    """
    if config.db == ":memory:":
        return MemoryStore(config.retain_messages, config.retain_days, reactor.seconds)
    return SqliteStore(config.db, reactor, config.retain_messages, config.retain_days)


class ChathubService(MultiService):
    """The whole server: a hub, its store and its listeners."""

    def __init__(self, reactor: Any, config: Config, store: Store | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # inherited, unannotated
        self.reactor = reactor
        self.config = config
        self.store = store if store is not None else open_store(config.store, reactor)
        self.hub = Hub(self.store, clock=reactor.seconds, settings=config.hub)
        self.listeners = [
            ListenerService(
                transport.name,
                getattr(config.listen, transport.endpoint),
                transport.make_factory(self.hub, config, reactor),
                config.listen.listen_backlog,
            )
            for transport in TRANSPORTS
        ]
        for listener in self.listeners:
            listener.setServiceParent(self)  # type: ignore[no-untyped-call]  # inherited
        # Retention in the background; a persistent store deletes off the reactor thread.
        pruning = TimerService(PRUNE_SECONDS, self.store.prune)
        pruning.clock = reactor
        pruning.setServiceParent(self)

    async def listen(self) -> dict[str, int | str | None]:
        """Bind every listener (all or none) and write the ports file; raises `BindError`."""
        try:
            for listener in self.listeners:
                await listener.listen(self.reactor)
        except BindError:
            for listener in self.listeners:
                await defer.maybeDeferred(listener.stopService)
            raise
        ports = {listener.name: listener.bound_port() for listener in self.listeners}
        if self.config.listen.ports_file:
            _write_atomically(self.config.listen.ports_file, json.dumps(ports))
        return ports

    async def shutdown(self) -> None:
        """Stop accepting, say goodbye to every client, then flush and close the store."""
        await defer.maybeDeferred(self.stopService)
        self.hub.shutdown()
        await _wait_until(self.reactor, lambda: not self.hub.sessions, DRAIN_SECONDS)
        await defer.maybeDeferred(self.store.close)


async def _wait_until(clock: IReactorTime, done: Callable[[], bool], timeout: float) -> None:
    waited = 0.0
    while not done() and waited < timeout:
        await task.deferLater(clock, 0.05, lambda: None)
        waited += 0.05


def _write_atomically(path: str, text: str) -> None:
    # A reader polling for the file must never see it half written.
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w") as file:
        file.write(text)
    os.replace(temporary, path)
