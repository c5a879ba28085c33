"""Passwords: what one must be, and the Argon2id hashes that are all chathub keeps of them.

Rules:
- A password is 8 to 128 characters with no control characters (so that what a terminal user
  types and what a page sends can be the same password). It is never logged, stored, shown or
  echoed back in an error: only its Argon2id hash is kept (`records.AccountRecord`).
- Hashing and checking are slow on purpose (argon2-cffi's defaults, RFC 9106's low-memory
  profile: 64 MiB, 3 passes, 4 lanes; about 0.3 s of a core here), so they never run on the
  reactor thread. The hub asks a `Hasher`, which answers through a callback: `ThreadHasher`
  (`hashing.py`) runs the work in a bounded pool of threads and refuses when too much waits;
  `InlineHasher` answers at once with cheap parameters, for tests.
- Pure apart from the hashing itself (no I/O, no twisted).
"""

from collections.abc import Callable
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 128

# The production parameters: argon2-cffi's defaults (RFC 9106, low memory), Argon2id.
PRODUCTION = PasswordHasher()
# For tests only: the same algorithm, as cheap as argon2 allows.
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def problem(password: str) -> str | None:
    """Why `password` cannot be a password (in words for people), or None."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return f"a password is {MIN_LENGTH} to {MAX_LENGTH} characters"
    if not password.isprintable():
        return "a password may not contain control characters"
    return None


def hash_password(password: str, hasher: PasswordHasher = PRODUCTION) -> str:
    """The Argon2id hash of `password` (slow: call it off the reactor thread)."""
    return hasher.hash(password)


def matches(hash: str, password: str, hasher: PasswordHasher = PRODUCTION) -> bool:
    """Whether `password` is the one `hash` was made from (slow, as `hash_password`)."""
    try:
        return hasher.verify(hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class Hasher(Protocol):
    """Hashes and checks passwords somewhere other than the caller's thread."""

    def hash(self, password: str, answer: Callable[[str | None], None]) -> bool:
        """Start hashing; `answer` gets the hash (None: it failed). False: too busy now,
        nothing was started and `answer` is never called."""
        ...

    def verify(self, hash: str, password: str, answer: Callable[[bool], None]) -> bool:
        """Start checking; `answer` gets whether it matches. False: too busy, as above."""
        ...


class InlineHasher:
    """A `Hasher` that answers at once, on the caller's thread: for tests only."""

    def __init__(self, hasher: PasswordHasher = CHEAP) -> None:
        self.hasher = hasher
        self.busy = False  # a test sets it to see the refusal

    def hash(self, password: str, answer: Callable[[str | None], None]) -> bool:
        if self.busy:
            return False
        answer(hash_password(password, self.hasher))
        return True

    def verify(self, hash: str, password: str, answer: Callable[[bool], None]) -> bool:
        if self.busy:
            return False
        answer(matches(hash, password, self.hasher))
        return True
