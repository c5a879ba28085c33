"""Accounts and log-in sessions: tokens kept only as hashes, expiry, revocation, bounds."""

from chathub.accounts import LOGIN_SECONDS, MAX_LOGINS, Accounts, token_hash
from chathub.records import AccountRecord, LoginRecord, Put, Remove, SavedState


def make() -> tuple[Accounts, list[object]]:
    changes: list[object] = []
    return Accounts(SavedState(), changes.append), changes


def test_a_login_token_is_kept_only_as_its_hash():
    accounts, changes = make()
    alice = accounts.add("alice", "$argon2id$x", 0.0)
    token, login = accounts.new_login(alice, 10.0)
    assert login.token_hash == token_hash(token) and token not in repr(changes)
    assert changes == [Put(alice), Put(login)]
    assert accounts.login(token, 11.0) == (alice, login)
    assert accounts.login("guess", 11.0) is None


def test_a_login_expires():
    accounts, changes = make()
    alice = accounts.add("alice", "$argon2id$x", 0.0)
    token, login = accounts.new_login(alice, 0.0)
    assert accounts.login(token, LOGIN_SECONDS + 1) is None
    assert changes[-1] == Remove(login)


def test_an_account_keeps_at_most_max_logins_the_oldest_go():
    accounts, _ = make()
    alice = accounts.add("alice", "$argon2id$x", 0.0)
    tokens = [accounts.new_login(alice, float(n))[0] for n in range(MAX_LOGINS + 2)]
    assert accounts.login(tokens[0], 100.0) is None and accounts.login(tokens[1], 100.0) is None
    assert accounts.login(tokens[-1], 100.0) is not None
    assert len(accounts.logins_of("alice")) == MAX_LOGINS


def test_revoke_others_keeps_one():
    accounts, _ = make()
    alice = accounts.add("alice", "$argon2id$x", 0.0)
    kept, login = accounts.new_login(alice, 0.0)
    other, _ = accounts.new_login(alice, 1.0)
    assert accounts.revoke_others("ALICE", login.token_hash) == 1
    assert accounts.login(kept, 2.0) is not None and accounts.login(other, 2.0) is None


def test_loaded_logins_of_unknown_accounts_are_dropped():
    saved = SavedState(
        accounts=[AccountRecord("alice", "$argon2id$x", 0.0)],
        logins=[LoginRecord("sha256:a", "alice", 0, 99), LoginRecord("sha256:b", "gone", 0, 99)],
    )
    accounts = Accounts(saved, lambda change: None)
    assert list(accounts.logins) == ["sha256:a"]
