"""Wiring: one Hub, one store, and a listener per transport, all under one MultiService.

Rules:
- The Hub is made here, once, and handed to every factory.
- Listeners are Twisted endpoint strings. `listen()` is awaited, never fire-and-forget: a port
  that cannot be bound is an exception for the caller (the command line turns it into an exit
  code), never a logged error with the process left running without its listener.
- Shutdown: stop accepting, tell every client, wait (briefly) for their output to drain, then
  close the store so history is flushed.
"""

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.application.internet import TimerService
from twisted.application.service import MultiService, Service
from twisted.internet import defer, task
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IReactorTime
from twisted.logger import Logger

from chathub.flow import FlowLimits
from chathub.hub import Hub, Limits
from chathub.line import DEFAULT_MAX_LINE, LineFactory
from chathub.sqlite import SqliteStore
from chathub.store import DEFAULT_RETAIN_DAYS, DEFAULT_RETAIN_MESSAGES, MemoryStore, Store
from chathub.tls import check_tls_endpoint
from chathub.web import make_site
from chathub.websocket import DEFAULT_MAX_MESSAGE, WebSocketFactory, WebSocketSettings

log = Logger()

# How long shutdown waits for clients to take their last lines before the reactor stops.
DRAIN_SECONDS = 2.0
# How often retention runs (it deletes in bounded batches off the reactor thread).
PRUNE_SECONDS = 60.0


@dataclass
class Config:
    """Everything the command line can set; the defaults are the documented ones."""

    telnet: str = "tcp:1025"
    web: str = "tcp:8080"
    motd: str = "Welcome to chathub."
    db: str = "chathub.db"
    max_line: int = DEFAULT_MAX_LINE
    replay: int = 50
    ports_file: str | None = None
    retain_messages: int = DEFAULT_RETAIN_MESSAGES  # per room
    retain_days: float = DEFAULT_RETAIN_DAYS  # 0: no age limit
    allow_origin: tuple[str, ...] = ()  # WebSocket origins allowed besides the page's own
    ws_max_message: int = DEFAULT_MAX_MESSAGE
    # Limits (README, "Limits"); 0 turns each off, except the backlog, which is always bounded.
    max_connections: int = Limits.max_connections
    max_per_ip: int = Limits.max_per_ip
    max_rate: float = FlowLimits.max_rate  # messages a second per connection
    burst: int = FlowLimits.burst
    max_backlog: int = FlowLimits.max_backlog  # bytes
    slow_timeout: float = FlowLimits.slow_timeout  # seconds
    idle_timeout: float = FlowLimits.idle_timeout  # seconds
    nicks_per_minute: int = Limits.nicks_per_minute
    joins_per_minute: int = Limits.joins_per_minute
    max_rooms: int = Limits.rooms_max

    def limits(self) -> Limits:
        """The hub's limits."""
        return Limits(
            replay=self.replay,
            nicks_per_minute=self.nicks_per_minute,
            joins_per_minute=self.joins_per_minute,
            rooms_max=self.max_rooms,
            max_connections=self.max_connections,
            max_per_ip=self.max_per_ip,
        )

    def flow(self) -> FlowLimits:
        """The per-connection limits every stream adapter applies."""
        return FlowLimits(
            max_rate=self.max_rate,
            burst=self.burst,
            max_backlog=self.max_backlog,
            slow_timeout=self.slow_timeout,
            idle_timeout=self.idle_timeout,
        )


class BindError(Exception):
    """A listener could not be started; the message says which and why, in one line."""


class ListenerService(Service):
    """Listens on one endpoint string with one factory, and stops listening when stopped."""

    def __init__(self, name: str, description: str, factory: IProtocolFactory) -> None:
        self.setName(name)
        self.description = description
        self.factory = factory
        self.port: IListeningPort | None = None

    async def listen(self, reactor: Any) -> IListeningPort:
        try:
            check_tls_endpoint(self.description)  # names the bad file, which Twisted does not
            endpoint = serverFromString(reactor, self.description)
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
        super().stopService()
        if self.port is not None:
            port, self.port = self.port, None
            return port.stopListening()
        return None


def open_store(config: Config, reactor: Any) -> Store:
    """The history store for `--db`: SQLite in a file, or memory only for `:memory:`.

    Raises `StoreError` (one line) when the file is damaged, locked or cannot be written.
    """
    if config.db == ":memory:":
        return MemoryStore(config.retain_messages, config.retain_days, reactor.seconds)
    return SqliteStore(config.db, reactor, config.retain_messages, config.retain_days)


class ChathubService(MultiService):
    """The whole server: a hub, its store and its listeners."""

    def __init__(self, reactor: Any, config: Config, store: Store | None = None) -> None:
        super().__init__()
        self.reactor = reactor
        self.config = config
        self.store = store if store is not None else open_store(config, reactor)
        self.hub = Hub(
            self.store,
            clock=reactor.seconds,
            motd=config.motd,
            limits=config.limits(),
        )
        telnet = LineFactory(self.hub, config.max_line, config.flow(), reactor)
        self.listeners = [
            ListenerService("telnet", config.telnet, telnet),
            ListenerService("web", config.web, make_site(self.hub, self._websocket_factory())),
        ]
        for listener in self.listeners:
            listener.setServiceParent(self)
        # Retention in the background; a persistent store deletes off the reactor thread.
        pruning = TimerService(PRUNE_SECONDS, self.store.prune)
        pruning.clock = reactor
        pruning.setServiceParent(self)

    def _websocket_factory(self) -> WebSocketFactory:
        settings = WebSocketSettings(
            max_message=self.config.ws_max_message,
            allowed_origins=tuple(self.config.allow_origin),
        )
        factory = WebSocketFactory(self.hub, self.reactor, settings)
        factory.flow = self.config.flow()
        return factory

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
        if self.config.ports_file:
            _write_atomically(self.config.ports_file, json.dumps(ports))
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
