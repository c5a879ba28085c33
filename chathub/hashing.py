"""Password hashing off the reactor thread: a small pool of threads with a bounded queue.

Rules:
- Argon2id (`passwords.py`) takes about 0.3 s of a core and 64 MiB per hash, so it runs in a
  pool of its own (`threads`, by default one thread per two cores, at least one), never on
  the reactor thread and never in the store's thread.
- At most `queue` hashes wait or run at once; past that `hash`/`verify` refuse at once (the
  hub answers `busy`), so a crowd of log-ins cannot queue work without bound.
- Answers come back on the reactor thread (Deferreds from `deferToThreadPool`).
- A failure inside the hashing is logged without the password and answered as a failure.
"""

import os
from collections.abc import Callable
from typing import Any

from argon2 import PasswordHasher
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from chathub import passwords

log = Logger()

QUEUE = 16  # hashes waiting or running at most


def default_threads() -> int:
    return max(1, (os.cpu_count() or 1) // 2)


class ThreadHasher:
    """A `passwords.Hasher` running Argon2id in its own threads."""

    def __init__(
        self,
        reactor: Any,
        threads: int | None = None,
        queue: int = QUEUE,
        hasher: PasswordHasher = passwords.PRODUCTION,
    ) -> None:
        self.reactor = reactor
        self.queue = queue
        self.hasher = hasher
        self.working = 0  # hashes waiting or running
        # No thread until the first password: a server nobody logs in to has none.
        self._pool: ThreadPool | None = ThreadPool(
            0, threads or default_threads(), "chathub-passwords"
        )
        self._pool.start()
        reactor.addSystemEventTrigger("during", "shutdown", self.stop)

    def hash(self, password: str, answer: Callable[[str | None], None]) -> bool:
        def failed(failure: Failure) -> None:
            log.error("password hashing failed: {error}", error=_kind(failure))
            answer(None)

        return self._run(lambda: passwords.hash_password(password, self.hasher), answer, failed)

    def verify(self, hash: str, password: str, answer: Callable[[bool], None]) -> bool:
        def failed(failure: Failure) -> None:
            log.error("password checking failed: {error}", error=_kind(failure))
            answer(False)

        return self._run(lambda: passwords.matches(hash, password, self.hasher), answer, failed)

    def _run(
        self,
        work: Callable[[], Any],
        answer: Callable[[Any], None],
        failed: Callable[[Failure], None],
    ) -> bool:
        pool = self._pool
        if pool is None or self.working >= self.queue:
            return False
        self.working += 1

        def over(result: object) -> object:
            self.working -= 1
            return result

        deferred = deferToThreadPool(self.reactor, pool, work)
        deferred.addBoth(over).addCallbacks(answer, failed)
        return True

    def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()


def _kind(failure: Failure) -> str:
    """What failed, without its message (which could quote what it was given)."""
    return failure.type.__name__ if failure.type is not None else "unknown"
