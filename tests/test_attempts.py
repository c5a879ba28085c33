"""Slowing down password guessing: per address, per account, and sign-ups."""

from chathub.attempts import (
    FORGET_AFTER,
    FREE_PER_ACCOUNT,
    FREE_PER_ADDRESS,
    MAX_LOCK,
    REGISTRATIONS_PER_HOUR,
    Attempts,
)


def test_an_account_is_locked_after_its_free_failures_for_doubling_times():
    """Five failures cost nothing; each one after locks the account 2 s, 4 s, 8 s..."""
    attempts = Attempts()
    for n in range(FREE_PER_ACCOUNT):
        attempts.failed(f"10.0.0.{n}", "alice", 100.0)
        assert attempts.wait("10.9.9.9", "alice", 100.0) == 0
    attempts.failed("10.0.0.9", "alice", 100.0)
    assert attempts.wait("10.9.9.9", "alice", 100.0) == 2.0
    attempts.failed("10.0.0.9", "alice", 100.0)
    assert attempts.wait("10.9.9.9", "ALICE", 100.0) == 4.0
    assert attempts.wait("10.9.9.9", "bob", 100.0) == 0


def test_an_address_is_locked_after_its_free_failures_whatever_the_accounts():
    """Guessing at many accounts from one address locks that address (IPv6: its /64)."""
    attempts = Attempts()
    for n in range(FREE_PER_ADDRESS + 1):
        attempts.failed("2001:db8::1", f"user{n}", 50.0)
    assert attempts.wait("2001:db8::ffff", "someone", 50.0) == 2.0
    assert attempts.wait("2001:db9::1", "someone", 50.0) == 0


def test_locks_are_capped_and_failures_forgotten_after_a_while():
    attempts = Attempts()
    for _ in range(FREE_PER_ACCOUNT + 40):
        attempts.failed("10.0.0.1", "alice", 0.0)
    assert attempts.wait("10.0.0.2", "alice", 0.0) == MAX_LOCK
    assert attempts.wait("10.0.0.2", "alice", MAX_LOCK + FORGET_AFTER + 1) == 0


def test_success_clears_the_account_but_not_the_address():
    attempts = Attempts()
    for _ in range(FREE_PER_ADDRESS + 1):
        attempts.failed("10.0.0.1", "alice", 0.0)
    attempts.succeeded("alice")
    assert attempts.wait("10.0.0.2", "alice", 0.0) == 0
    assert attempts.wait("10.0.0.1", "bob", 0.0) > 0


def test_sign_ups_are_limited_per_address_an_hour():
    attempts = Attempts()
    assert all(attempts.register("10.0.0.1", 0.0) == 0 for _ in range(REGISTRATIONS_PER_HOUR))
    assert attempts.register("10.0.0.1", 10.0) == 3590.0
    assert attempts.register("10.0.0.2", 10.0) == 0
    assert attempts.register("10.0.0.1", 3601.0) == 0


def test_memory_is_bounded():
    attempts = Attempts(max_entries=3)
    for n in range(10):
        attempts.failed(f"10.0.0.{n}", None, 0.0)
    assert len(attempts._records) == 3
