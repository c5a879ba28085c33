"""`--workers N`: a supervisor and N worker processes on this machine, one hub through Redis.

Rules:
- The supervisor serves nobody. It checks Redis (`--redis`, or starts its private redis-server,
  `redisserver.py`; neither possible: one line, exit 1), binds every listener once
  (`sockets.py`: all or none, one line and exit 1 on failure), then starts the workers: each is
  `chathub worker INDEX FDS ARGS...`, the same configuration (flags, environment, file) with
  the Redis URL, that adopts the inherited sockets, pins itself to one core of those it may use
  (`INDEX` modulo their number) and says `ready` on its pipe once it serves. The ports file is
  written, and the one `serving` line printed, when all are ready.
- A worker that exits while chathub runs is started again after a second (its clients were
  told nothing: they reconnect; the others see them leave within the presence TTL). More than
  `MAX_RESTARTS` in a minute: chathub stops, exit 1. A private redis-server that exits is
  started again (the workers reconnect by themselves).
- SIGTERM or SIGINT: every worker gets SIGTERM and drains (`--drain-seconds`); then the
  private redis-server stops (it writes its file). Exit 0, or 1 when a worker could not save.
"""

import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from twisted.internet import defer, protocol, task
from twisted.logger import Logger
from twisted.python.failure import Failure

from chathub.config import Config
from chathub.redisconn import BackplaneError, probe
from chathub.redisserver import PrivateRedis, missing
from chathub.redisurl import parse_redis_url
from chathub.service import TRANSPORTS, BindError, with_backlog
from chathub.sockets import bind

log = Logger(namespace="chathub.workers")

READY_FD = 3  # the worker's pipe to the supervisor; listeners follow from 4
START_SECONDS = 30.0
MAX_RESTARTS = 5  # in RESTART_WINDOW seconds, then give up
RESTART_WINDOW = 60.0


def pin_to_core(index: int) -> None:
    """Run on one of the cores this process may use (the `index`-th, round the list)."""
    try:
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[index % len(cores)]})
    except (AttributeError, OSError):  # not Linux, or not allowed: the kernel chooses
        pass


def worker_arguments(argv: Sequence[str]) -> tuple[int, dict[str, int], list[str]]:
    """`INDEX FDS ARGS...` of `chathub worker`: its index, listener name -> fd, the rest."""
    index = int(argv[0])
    fds = {name: int(fd) for name, fd in (pair.split("=") for pair in argv[1].split(",") if pair)}
    return index, fds, list(argv[2:])


class Worker(protocol.ProcessProtocol):
    def __init__(self, supervisor: "Supervisor", index: int) -> None:
        self.supervisor = supervisor
        self.index = index
        self.ready = False

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        if childFD == READY_FD and b"ready" in data and not self.ready:
            self.ready = True
            self.supervisor.worker_ready(self)

    def processEnded(self, reason: Failure) -> None:
        code = getattr(reason.value, "exitCode", None)
        self.supervisor.worker_ended(self, 1 if code is None else code)


class Supervisor:
    def __init__(self, reactor: Any, config: Config, argv: Sequence[str]) -> None:
        self.reactor = reactor
        self.config = config
        self.argv = list(argv)
        self.count = config.backplane.workers
        self.redis_url = config.backplane.redis
        self.private: PrivateRedis | None = None
        self.sockets: dict[str, Any] = {}  # listener name -> its socket
        self.ports: dict[str, int | str | None] = {}
        self.workers: dict[int, Worker] = {}
        self.stopping = False
        self.exit_code = 0
        self.restarts: list[float] = []
        self._all_ready: defer.Deferred[None] = defer.Deferred()
        self._watch: task.LoopingCall | None = None

    # --- start --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Redis, sockets, workers; `SystemExit`-worthy problems raise `StartError`."""
        if self.redis_url is None:
            problem = missing(self.count)
            if problem is not None:
                raise StartError(problem)
            self.private = PrivateRedis(self.config.store.db)
            problem = self.private.start()
            if problem is not None:
                raise StartError(problem)
            self.redis_url = self.private.url
            self._watch = task.LoopingCall(self._watch_redis)
            self._watch.clock = self.reactor
            self._watch.start(1.0, now=False)
        try:
            await probe(self.reactor, parse_redis_url(self.redis_url))
        except BackplaneError as problem:
            raise StartError(str(problem)) from None
        for transport in TRANSPORTS:
            description = getattr(self.config.listen, transport.endpoint)
            if description == "none":
                continue
            backlog = self.config.listen.listen_backlog
            try:
                sock, port = await bind(self.reactor, with_backlog(description, backlog))
            except Exception as problem:
                raise StartError(
                    str(
                        BindError(f"cannot listen for {transport.name} on {description}: {problem}")
                    )
                ) from None
            self.sockets[transport.name] = sock
            self.ports[transport.name] = port
        for index in range(self.count):
            self.spawn(index)
        timer = self.reactor.callLater(START_SECONDS, self._start_timed_out)
        try:
            await self._all_ready
        finally:
            if timer.active():
                timer.cancel()
        if self.config.listen.ports_file:
            path = self.config.listen.ports_file
            temporary = f"{path}.{os.getpid()}.tmp"
            with open(temporary, "w") as file:
                file.write(json.dumps(self.ports))
            os.replace(temporary, path)

    def spawn(self, index: int) -> None:
        worker = Worker(self, index)
        child_fds: dict[int, int | str] = {0: 0, 1: 1, 2: 2, READY_FD: "r"}
        names = []
        for offset, (name, sock) in enumerate(self.sockets.items()):
            child_fds[READY_FD + 1 + offset] = sock.fileno()
            names.append(f"{name}={READY_FD + 1 + offset}")
        overrides = ["--workers", "1", "--ports-file", ""]
        if self.private is not None:
            overrides += ["--redis", self.private.url]
        args = [sys.executable, "-m", "chathub", "worker", str(index), ",".join(names)]
        args += [*self.argv, *overrides]
        self.reactor.spawnProcess(worker, sys.executable, args, env=os.environ, childFDs=child_fds)
        self.workers[index] = worker

    def worker_ready(self, worker: Worker) -> None:
        everyone = len(self.workers) == self.count and all(w.ready for w in self.workers.values())
        if everyone and not self._all_ready.called:
            self._all_ready.callback(None)

    def _start_timed_out(self) -> None:
        if not self._all_ready.called:
            self._all_ready.errback(StartError(f"the workers did not start in {START_SECONDS:g} s"))

    # --- watching -----------------------------------------------------------------------------

    def worker_ended(self, worker: Worker, code: int) -> None:
        if self.workers.get(worker.index) is not worker:
            return
        del self.workers[worker.index]
        if self.stopping:
            if code:
                self.exit_code = 1
            return
        if not self._all_ready.called:  # failed at start: it said why on stderr
            self._all_ready.errback(StartError(None))
            return
        now = self.reactor.seconds()
        self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW] + [now]
        log.error(
            "worker {index} exited ({code}); starting it again", index=worker.index, code=code
        )
        if len(self.restarts) > MAX_RESTARTS:
            log.error("workers keep exiting: stopping")
            self.exit_code = 1
            self.reactor.stop()
            return
        self.reactor.callLater(1.0, self._respawn, worker.index)

    def _respawn(self, index: int) -> None:
        if not self.stopping and index not in self.workers:
            self.spawn(index)

    def _watch_redis(self) -> None:
        private = self.private
        if private is not None and private.exited() and not self.stopping:
            log.error("the private redis-server exited; starting it again")
            problem = private.start()
            if problem is not None:
                log.error("{problem}", problem=problem)

    # --- stop ---------------------------------------------------------------------------------

    async def stop(self) -> None:
        """SIGTERM to every worker, wait for them to drain, then stop the private Redis."""
        self.stopping = True
        if self._watch is not None and self._watch.running:
            self._watch.stop()
        for worker in list(self.workers.values()):
            if worker.transport is not None:
                with contextlib.suppress(Exception):  # already gone
                    worker.transport.signalProcess("TERM")
        deadline = time.monotonic() + self.config.listen.drain_seconds + 10.0
        while self.workers and time.monotonic() < deadline:
            await task.deferLater(self.reactor, 0.05, lambda: None)
        for worker in list(self.workers.values()):
            if worker.transport is not None:
                worker.transport.signalProcess("KILL")
            self.exit_code = 1
        for sock in self.sockets.values():
            sock.close()
        if self.private is not None:
            self.private.stop()


class StartError(Exception):
    """The supervisor cannot start: one line (None: a worker said why already)."""

    def __init__(self, line: str | None) -> None:
        super().__init__(line or "")
        self.line = line


def supervise(config: Config, argv: Sequence[str]) -> int:
    """Run the supervisor on the global reactor until a signal; returns the exit code."""
    from twisted.internet import reactor

    from chathub.logs import start_logging

    start_logging(sys.stderr)
    supervisor = Supervisor(reactor, config, argv)
    r: Any = reactor

    async def start() -> None:
        try:
            await supervisor.start()
        except StartError as problem:
            if problem.line:
                print(f"chathub: {problem.line}", file=sys.stderr, flush=True)
            supervisor.exit_code = 1
            await supervisor.stop()
            supervisor.exit_code = 1
            r.stop()
            return
        listening = ", ".join(f"{name} on port {port}" for name, port in supervisor.ports.items())
        line = f"serving {listening} with {supervisor.count} workers"
        print(f"chathub: {line}", file=sys.stderr, flush=True)
        log.info("started, {line}", line=line)
        r.addSystemEventTrigger(
            "before", "shutdown", lambda: defer.ensureDeferred(supervisor.stop())
        )

    r.callWhenRunning(lambda: defer.ensureDeferred(start()))
    r.run()
    return supervisor.exit_code
