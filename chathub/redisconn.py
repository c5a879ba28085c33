"""The backplane: this process's two connections to the Redis every process shares.

Rules:
- Two connections (txredisapi, hiredis parsing, bytes in and out): one runs commands and the
  Lua scripts (`chathub/lua/`), in the order they are called; the other is subscribed to this
  process's channel, where every publication meant for it arrives, in one order (`on_push`),
  the pushes of one read inside one `on_read()` (so they can be delivered together).
- Start-up is strict: Redis is reached, and answers, before anything listens; otherwise
  `BackplaneError` says in one line where and why (the command line exits 1).
- Lost while running (either connection, or a reply late by `WATCHDOG_SECONDS`: a Redis that
  hangs is treated as gone): `available` turns False at once and every `on_lost` is told, so
  that nothing more is sent, nothing waits in a queue and what was in flight is answered.
  txredisapi reconnects (every 0.5 to 2 s); it does not restore subscriptions, so once both
  connections are back the channel is subscribed again, every `on_ready` step is run in
  order (the process writes its state again) and only then is it `available` again.
- Scripts go by EVALSHA, their text is sent once per connection (txredisapi's `eval`).
- Nothing here knows chat rules; `redisbroker.py`, `redisstore.py` and `redispresence.py` do.
"""

import importlib.resources
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import txredisapi
from twisted.internet import defer
from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.ssl import optionsForClientTLS
from twisted.logger import Logger
from twisted.python.failure import Failure

from chathub.redisurl import RedisAddress
from chathub.store import StoreError

log = Logger()

PREFIX = "chathub:"  # every key and channel chathub uses starts with it
CONNECT_SECONDS = 5.0  # to reach Redis at start-up
WATCHDOG_SECONDS = 5.0  # a reply this late: Redis is treated as gone, and reconnected
RETRY_FIRST, RETRY_MOST = 0.5, 2.0  # seconds between reconnection attempts


def _read_scripts() -> dict[str, str]:
    """The Lua scripts by name; the presence ones start with `common.lua`, the history ones
    with `amend.lua`."""
    folder = importlib.resources.files("chathub") / "lua"
    texts = {
        item.name.removesuffix(".lua"): item.read_text("utf-8")
        for item in folder.iterdir()
        if item.name.endswith(".lua")
    }
    common, amend = texts.pop("common"), texts.pop("amend")
    standalone = ("publish", "close", "record")
    history = ("open", "read")
    return {
        name: text if name in standalone else (amend if name in history else common) + text
        for name, text in texts.items()
    }


SCRIPTS = _read_scripts()


class BackplaneError(StoreError):
    """Redis cannot be used (at start-up); one line says where and why."""


class Unavailable(Exception):
    """The backplane is away: nothing was sent."""


def endpoint_for(reactor: Any, address: RedisAddress) -> IStreamClientEndpoint:
    if address.scheme == "unix":
        return UNIXClientEndpoint(reactor, address.path, timeout=CONNECT_SECONDS)
    endpoint: IStreamClientEndpoint = HostnameEndpoint(
        reactor, address.host, address.port, timeout=CONNECT_SECONDS
    )
    if address.tls:
        endpoint = wrapClientTLS(optionsForClientTLS(address.host), endpoint)
    return endpoint


async def probe(reactor: Any, address: RedisAddress, timeout: float = CONNECT_SECONDS) -> None:
    """Reach Redis once, without retrying, and PING it: `BackplaneError` (the line the user
    reads) when that cannot be done within `timeout` seconds."""
    factory = txredisapi.RedisFactory(
        None, address.db, 1, isLazy=False, charset=None,
        password=address.password, username=address.username,
    )  # fmt: skip
    factory.reconnect = False
    factory.startConnecting(endpoint_for(reactor, address))
    ready: defer.Deferred[Any] = factory.deferred
    timer = reactor.callLater(timeout, ready.cancel)
    where = address.shown
    try:
        handler = await ready
        answer = await handler.ping()
    except defer.CancelledError:
        await factory.disconnect()
        raise BackplaneError(f"cannot reach Redis at {where}: no answer in {timeout:g} s") from None
    except Exception as problem:
        await factory.disconnect()
        reason = str(problem).removeprefix("Redis error: ")
        raise BackplaneError(f"cannot use Redis at {where}: {reason}") from None
    finally:
        if timer.active():
            timer.cancel()
    await factory.disconnect()
    if answer not in (b"PONG", "PONG"):
        raise BackplaneError(f"cannot use Redis at {where}: PING answered {answer!r}")


class _Pushes(txredisapi.SubscriberProtocol):  # type: ignore[misc]  # untyped library
    def dataReceived(self, data: bytes, unpause: bool = False) -> None:
        with self.factory.owner.on_read():  # the pushes this read holds, together
            super().dataReceived(data, unpause)

    def messageReceived(self, pattern: Any, channel: bytes, message: bytes) -> None:
        self.factory.owner.pushed(message)


class _Factory(txredisapi.RedisFactory):  # type: ignore[misc]
    """One reconnecting connection that tells its owner when it is up and when it is gone."""

    initialDelay = RETRY_FIRST
    maxDelay = RETRY_MOST
    noisy = False

    def __init__(self, owner: "Backplane", address: RedisAddress, subscriber: bool) -> None:
        super().__init__(
            None, None if subscriber else address.db, 1, isLazy=True, charset=None,
            password=address.password, convertNumbers=False, username=address.username,
        )  # fmt: skip
        if subscriber:
            self.protocol = _Pushes
            self.dbid = None  # channels are not per database
        self.owner = owner
        self.subscriber = subscriber

    def addConnection(self, conn: Any) -> None:
        super().addConnection(conn)
        if conn in self.pool:
            self.owner.connected(conn, self.subscriber)

    def delConnection(self, conn: Any) -> None:
        super().delConnection(conn)
        self.owner.disconnected(conn, self.subscriber)


class Backplane:
    """The connections, the state of the link, and the scripts."""

    def __init__(
        self, reactor: Any, address: RedisAddress, prefix: str = PREFIX, origin: str = ""
    ) -> None:
        self.reactor = reactor
        self.address = address
        self.prefix = prefix
        self.origin = origin or secrets.token_hex(6)  # this process, among all of them
        self.channel = f"{prefix}proc:{self.origin}".encode()
        self.available = False
        self.on_push: Callable[[bytes], None] = lambda message: None
        self.on_read: Callable[[], AbstractContextManager[object]] = nullcontext
        self.on_lost: list[Callable[[], None]] = []
        self.on_ready: list[Callable[[], Any]] = []  # each may return a Deferred
        self.on_back: list[Callable[[], None]] = []  # after a loss, once ready again
        self.on_close: list[Callable[[], Any]] = []  # before the connections close
        self.before_run: Callable[[], None] | None = None  # what is told goes before asking
        self.error: str | None = None  # why it is away
        self._commands: Any = None
        self._pushes: Any = None
        self._subscribed = False
        self._syncing = False
        self._was_lost = False
        self._factories: list[_Factory] = []
        self._started: defer.Deferred[None] | None = None
        self._closing = False
        self._watch: Any = None

    # --- start and stop -----------------------------------------------------------------------

    async def start(self, timeout: float = CONNECT_SECONDS) -> None:
        """Connect both, subscribe, run `on_ready`; `BackplaneError` when Redis cannot be
        used within `timeout` seconds."""
        await probe(self.reactor, self.address, timeout)
        self._started = defer.Deferred()
        for subscriber in (False, True):
            factory = _Factory(self, self.address, subscriber)
            self._factories.append(factory)
            factory.startConnecting(endpoint_for(self.reactor, self.address))
        timer = self.reactor.callLater(timeout, self._start_timed_out)
        try:
            await self._started
        finally:
            if timer.active():
                timer.cancel()

    def _start_timed_out(self) -> None:
        if self._started is not None and not self._started.called:
            started, self._started = self._started, None
            started.errback(
                BackplaneError(
                    f"cannot use Redis at {self.address.shown}: {self.error or 'not ready in time'}"
                )
            )

    async def close(self) -> None:
        """Run `on_close` (while still connected), then close both connections."""
        for step in self.on_close:
            try:
                await defer.maybeDeferred(step)
            except Exception as problem:
                log.error("backplane close: {error}", error=problem)
        self._closing = True
        self.available = False
        await defer.gatherResults(
            [defer.maybeDeferred(factory.disconnect) for factory in self._factories],
            consumeErrors=True,
        )

    # --- the link's state ---------------------------------------------------------------------

    def connected(self, conn: Any, subscriber: bool) -> None:
        # Each publish script is a small write: Nagle's algorithm would hold one back until
        # the previous was acknowledged (hiredis and redis-server set TCP_NODELAY too).
        no_delay = getattr(conn.transport, "setTcpNoDelay", None)
        if no_delay is not None:
            no_delay(True)
        if subscriber:
            self._pushes = conn
            conn.subscribe([self.channel]).addCallbacks(self._subscribed_now, self._sync_failed)
        else:
            self._commands = conn
            self._maybe_ready()

    def disconnected(self, conn: Any, subscriber: bool) -> None:
        if subscriber and conn is self._pushes:
            self._pushes = None
            self._subscribed = False
        elif not subscriber and conn is self._commands:
            self._commands = None
        else:
            return
        self._lost(f"lost the connection to Redis at {self.address.shown}")

    def _subscribed_now(self, _: object) -> None:
        self._subscribed = True
        self._maybe_ready()

    def _maybe_ready(self) -> None:
        if self._commands is None or not self._subscribed or self._syncing or self.available:
            return
        self._syncing = True
        defer.ensureDeferred(self._sync()).addErrback(self._sync_failed)

    async def _sync(self) -> None:
        for step in self.on_ready:
            await defer.maybeDeferred(step)
        self._syncing = False
        if self._commands is None or not self._subscribed:
            return  # lost again meanwhile: the next connection syncs
        self.available = True
        self.error = None
        if self._started is not None:
            started, self._started = self._started, None
            started.callback(None)
        if self._was_lost:
            self._was_lost = False
            log.info("backplane back: Redis at {where}", where=self.address.shown)
            for back in self.on_back:
                back()

    def _sync_failed(self, failure: Failure) -> None:
        self._syncing = False
        self.error = failure.getErrorMessage()
        log.error("backplane not ready: {error}", error=self.error)
        self.drop()  # start again from a fresh connection

    def _lost(self, reason: str) -> None:
        self.error = reason
        if self._closing:
            return
        if self.available:
            self.available = False
            self._was_lost = True
            log.error("backplane lost: {reason}", reason=reason)
            for lost in self.on_lost:
                lost()

    def drop(self) -> None:
        """Close both connections (they reconnect): Redis stopped answering in time."""
        for conn in (self._commands, self._pushes):
            if conn is not None and conn.transport is not None:
                conn.transport.abortConnection()

    def watch(self, answer: "defer.Deferred[Any]", seconds: float = WATCHDOG_SECONDS) -> None:
        """`answer` must come within `seconds`, or the link is dropped and made again."""
        if self._watch is not None and self._watch.active():
            return  # one watched reply at a time: replies come in order

        def late() -> None:
            self._lost(f"Redis at {self.address.shown} did not answer for {seconds:g} s")
            self.drop()

        timer = self.reactor.callLater(seconds, late)
        self._watch = timer

        def settled(result: object) -> object:
            if timer.active():
                timer.cancel()
            return result

        answer.addBoth(settled)

    # --- commands and scripts -----------------------------------------------------------------

    def pushed(self, message: bytes) -> None:
        self.on_push(message)

    def run(self, script: str, *args: Any) -> "defer.Deferred[Any]":
        """Run a Lua script (by name) with `args` after the prefix; fails with `Unavailable`
        when the commands' connection is down (nothing is queued)."""
        conn = self._commands
        if conn is None or not conn.connected:
            return defer.fail(Unavailable(self.error or "not connected"))
        if self.before_run is not None and script != "roster":
            self.before_run()
        result: defer.Deferred[Any] = conn.eval(SCRIPTS[script], [], (self.prefix, *args))
        return result

    def command(self, *args: Any) -> "defer.Deferred[Any]":
        conn = self._commands
        if conn is None or not conn.connected:
            return defer.fail(Unavailable(self.error or "not connected"))
        result: defer.Deferred[Any] = conn.execute_command(*args)
        return result
