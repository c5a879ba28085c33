"""Password rules, Argon2id, and hashing off the reactor thread with a bounded queue."""

import threading
from collections.abc import Callable
from typing import Any

from chathub import passwords
from chathub.hashing import ThreadHasher


def test_password_rules():
    assert passwords.problem("12345678") is None
    assert passwords.problem("x" * 128) is None
    assert passwords.problem("1234567") is not None
    assert passwords.problem("x" * 129) is not None
    assert passwords.problem("tab\there!") is not None


def test_only_an_argon2id_hash_is_kept_and_it_checks_the_password():
    hash = passwords.hash_password("correct horse", passwords.CHEAP)
    assert hash.startswith("$argon2id$") and "correct horse" not in hash
    assert passwords.matches(hash, "correct horse", passwords.CHEAP)
    assert not passwords.matches(hash, "wrong horse", passwords.CHEAP)
    assert not passwords.matches("not a hash", "correct horse", passwords.CHEAP)


def test_production_parameters_are_argon2_cffis_defaults():
    """RFC 9106's low-memory profile: 64 MiB, 3 passes, 4 lanes."""
    hasher = passwords.PRODUCTION
    assert (hasher.memory_cost, hasher.time_cost, hasher.parallelism) == (65536, 3, 4)


class ThreadReactor:
    """Enough of a reactor for deferToThreadPool: results come back through callFromThread,
    which a test collects and runs on its own thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.arrived = threading.Event()

    def callFromThread(self, f: Callable[..., Any], *args: Any) -> None:
        self.calls.append((f, args))
        self.arrived.set()

    def addSystemEventTrigger(self, *args: Any) -> None:
        pass

    def run_one(self) -> None:
        assert self.arrived.wait(10)
        self.arrived.clear()
        f, args = self.calls.pop(0)
        f(*args)


def test_the_thread_hasher_answers_on_the_reactor_and_bounds_its_queue():
    """Hashing runs in a thread other than the caller's; past `queue` it refuses at once."""
    reactor = ThreadReactor()
    hasher = ThreadHasher(reactor, threads=1, queue=1, hasher=passwords.CHEAP)
    answers: list[str | None] = []
    assert hasher.hash("correct horse", answers.append)
    assert not answers  # not on the caller's thread: the answer comes through the reactor
    assert not hasher.verify("x", "y", lambda ok: None)  # the queue is full
    reactor.run_one()
    (hash,) = answers
    assert hash is not None and passwords.matches(hash, "correct horse", passwords.CHEAP)
    checked: list[bool] = []
    assert hasher.verify(hash, "correct horse", checked.append)
    reactor.run_one()
    assert checked == [True]
    hasher.stop()
