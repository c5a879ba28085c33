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
- Shutdown drains: `/readyz` fails at once, listeners stop, every client is told and the
  connections are closed spread over `--drain-seconds`, then the store is flushed and closed.
- An endpoint of `none` is not served (the admin port can be turned off).
- A worker of `--workers N` adopts the sockets its supervisor bound (`inherited`: listener
  name -> descriptor) instead of binding its own.
- With `--redis`, the hub's store, broker and roster are Redis's (`redishub.py`, imported only
  then): Redis is reached before anything listens, and closed after the drain.
"""

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.application.internet import TimerService
from twisted.application.service import MultiService, Service
from twisted.internet import defer, task
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IReactorTime
from twisted.logger import Logger

from chathub.admin import LAG_SECONDS, Readiness, make_admin_site
from chathub.api import ApiResource
from chathub.config import Config, StoreSettings
from chathub.hashing import ThreadHasher
from chathub.hub import Hub
from chathub.line import LineFactory
from chathub.metrics import Metrics
from chathub.sockets import Adopter
from chathub.sqlite import SqliteStore
from chathub.store import MemoryStore, Store
from chathub.tls import check_tls_endpoint
from chathub.tokens import TokenTable
from chathub.web import make_site
from chathub.websocket import WebSocketFactory

if TYPE_CHECKING:
    from chathub.redishub import RedisParts

log = Logger()

# Clients are closed in slices this far apart while draining.
DRAIN_STEP = 0.1
# How often retention runs (it deletes in bounded batches off the reactor thread).
PRUNE_SECONDS = 60.0


class BindError(Exception):
    """A listener could not be started; the message says which and why, in one line."""


@dataclass(frozen=True)
class Transport:
    """One protocol the service listens for: a row of TRANSPORTS."""

    name: str  # in errors, logs and the ports file
    endpoint: str  # the `ListenSettings` key of its endpoint string (`none`: not served)
    make_factory: Callable[["ChathubService"], IProtocolFactory]


def telnet_factory(service: "ChathubService") -> IProtocolFactory:
    config = service.config
    return LineFactory(
        service.hub, config.line.max_line, config.flow, service.reactor, config.line.paste_window
    )


def web_factory(service: "ChathubService") -> IProtocolFactory:
    """The page, the API and `/ws` on one site, behind the HTTP channel's limits."""
    config, hub, reactor = service.config, service.hub, service.reactor
    websocket = WebSocketFactory(hub, reactor, config.websocket, config.flow)
    api = ApiResource(hub, TokenTable(config.tokens), config.flow, reactor)
    return make_site(
        hub, websocket, config.http, reactor, config.flow.slow_timeout,
        service.metrics.count_request, api,
    )  # fmt: skip


def admin_factory(service: "ChathubService") -> IProtocolFactory:
    """`/metrics`, `/livez` and `/readyz`, apart from the public port."""
    return make_admin_site(service.metrics, service.readiness)


# In start-up order; the ports file lists them in this order too.
TRANSPORTS = (
    Transport("telnet", "telnet", telnet_factory),
    Transport("web", "web", web_factory),
    Transport("admin", "admin", admin_factory),
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
        self,
        name: str,
        description: str,
        factory: IProtocolFactory,
        backlog: int | None = None,
        fd: int | None = None,
    ) -> None:
        self.name: str = name  # what setName() does for a service without a parent yet
        self.description = description
        self.factory = factory
        self.backlog = backlog  # the accept queue, unless the description gives one
        self.fd = fd  # a worker's: the socket its supervisor bound (`sockets.py`)
        self.port: IListeningPort | None = None

    async def listen(self, reactor: Any) -> IListeningPort:
        """Start listening; returns the listening port or raises `BindError`."""
        try:
            check_tls_endpoint(self.description)  # names the bad file, which Twisted does not
            description = self.description
            if self.backlog is not None:
                description = with_backlog(description, self.backlog)
            if self.fd is not None:
                reactor = Adopter(reactor, self.fd)
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


def open_store(config: StoreSettings, reactor: Any, max_open_rooms: int) -> Store:
    """The history store for `--db`: SQLite in a file, or memory only for `:memory:`.

    Raises `StoreError` (one line) when the file is damaged, locked or cannot be written.
    """
    memory = config.history_memory * 1024 * 1024
    if config.db == ":memory:":
        return MemoryStore(config.retain_messages, config.retain_days, reactor.seconds, memory)
    return SqliteStore(
        config.db,
        reactor,
        config.retain_messages,
        config.retain_days,
        history_memory=memory,
        max_open_rooms=max_open_rooms,
    )


class ChathubService(MultiService):
    """The whole server: a hub, its store and its listeners."""

    def __init__(
        self,
        reactor: Any,
        config: Config,
        store: Store | None = None,
        inherited: dict[str, int] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # inherited, unannotated
        self.reactor = reactor
        self.config = config
        self.redis: RedisParts | None = None
        if config.backplane.redis is not None and store is None:
            from chathub.redishub import make_redis_parts

            self.redis = make_redis_parts(
                config.backplane, config.store, reactor, config.hub.max_rooms_total
            )
            store = self.redis.store
        self.store = (
            store
            if store is not None
            else open_store(config.store, reactor, config.hub.max_rooms_total)
        )
        # Joins and parts are announced in batches, at the end of each reactor turn; passwords
        # are hashed in threads of their own.
        self.hasher = ThreadHasher(reactor)
        if self.redis is not None:
            redis = self.redis
            self.hub = Hub(
                self.store, reactor.seconds, config.hub, broker=redis.broker,
                origin=redis.origin, later=reactor.callLater, roster=redis.roster,
                hasher=self.hasher, operators=config.operators,
            )  # fmt: skip
            redis.roster.attach(self.hub)
            redis.store.records.attach(self.hub)
        else:
            self.hub = Hub(
                self.store, reactor.seconds, config.hub, later=reactor.callLater,
                hasher=self.hasher, operators=config.operators,
            )  # fmt: skip
        self.hub.bots = TokenTable(config.tokens).bot_nicks()
        self.lag = LagMonitor(reactor)
        self.metrics = Metrics(self.hub, self.lag.lag)
        if isinstance(self.store, SqliteStore):
            self.store.writer.on_commit = self.metrics.store_commit_seconds.observe
        self.readiness = Readiness(
            store_ok=lambda: self.store.health().ok,
            last_tick=lambda: self.lag.last_tick,
            now=reactor.seconds,
        )
        self.listeners = [
            ListenerService(
                transport.name,
                getattr(config.listen, transport.endpoint),
                transport.make_factory(self),
                config.listen.listen_backlog,
                (inherited or {}).get(transport.name),
            )
            for transport in TRANSPORTS
            if getattr(config.listen, transport.endpoint) != "none"
        ]
        for listener in self.listeners:
            listener.setServiceParent(self)  # type: ignore[no-untyped-call]  # inherited
        # Retention in the background; a persistent store deletes off the reactor thread.
        pruning = TimerService(PRUNE_SECONDS, self.store.prune)
        pruning.clock = reactor
        pruning.setServiceParent(self)
        lag = TimerService(LAG_SECONDS, self.lag.tick)
        lag.clock = reactor
        lag.setName("lag")
        lag.setServiceParent(self)

    async def listen(self) -> dict[str, int | str | None]:
        """Reach Redis if there is one (raises `BackplaneError`), bind every listener (all or
        none) and write the ports file; raises `BindError`."""
        if self.redis is not None:
            await self.redis.start()
            log.info("joined the hub of Redis at {where}", where=self.redis.backplane.address.shown)
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
        self.readiness.listening = True
        for name, port in ports.items():
            log.info("listening for {transport} on {port}", transport=name, port=port)
        return ports

    async def shutdown(self) -> int:
        """Drain: `/readyz` fails at once, listeners stop, clients are told and closed spread
        over `--drain-seconds` (so they do not all reconnect elsewhere at the same instant),
        then history is flushed; all within the drain and a second more. Returns how many
        messages could not be saved."""
        drain = self.config.listen.drain_seconds
        deadline = self.reactor.seconds() + drain + 1.0
        self.readiness.draining = True
        log.info(
            "draining: {clients} clients over {seconds} s", clients=len(self.hub.sessions),
            seconds=drain,
        )  # fmt: skip
        # The admin port and the lag check go on to the end: a probe gets 503 from /readyz (not
        # a refused connection), /livez stays true and /metrics shows the drain.
        kept = [self.namedServices[name] for name in ("admin", "lag") if name in self.namedServices]
        await self._stop_all_but(kept)
        sessions = self.hub.begin_shutdown()
        # Close in slices, the last leaving a fifth of the drain to flush and to let go. Each
        # slice has its time from the start, so the work of closing does not push the last
        # ones past the drain.
        slices = max(1, int(drain * 0.8 / DRAIN_STEP))
        per_slice = max(1, -(-len(sessions) // slices))
        began = self.reactor.seconds()
        for number, start in enumerate(range(0, len(sessions), per_slice)):
            for session in sessions[start : start + per_slice]:
                self.hub.close_session(session)
            if start + per_slice < len(sessions):
                due = began + (number + 1) * DRAIN_STEP - self.reactor.seconds()
                await task.deferLater(self.reactor, max(0.0, due), lambda: None)
        await _wait_until(self.reactor, lambda: not self.hub.sessions, min(drain * 0.2, 2.0))
        closed = self.store.close(max(0.5, deadline - self.reactor.seconds()))
        unsaved = closed if isinstance(closed, int) else await closed
        for service in kept:
            await defer.maybeDeferred(service.stopService)
        log.info("stopped; {unsaved} messages not saved", unsaved=unsaved)
        return unsaved

    def _stop_all_but(self, kept: list[Service]) -> "defer.Deferred[Any]":
        """`stopService`, leaving the services in `kept` running (in reverse start order, as
        `MultiService` stops them)."""
        Service.stopService(self)
        stopping = [
            defer.maybeDeferred(service.stopService)
            for service in reversed(list(self))
            if service not in kept
        ]
        return defer.DeferredList(stopping)


class LagMonitor:
    """How late the reactor runs a timer: 0 when idle, seconds when a turn is stuck."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.last_tick = reactor.seconds()
        self._lag = 0.0

    def tick(self) -> None:
        now = self.reactor.seconds()
        self._lag = max(0.0, now - self.last_tick - LAG_SECONDS)
        self.last_tick = now

    def lag(self) -> float:
        return self._lag


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
