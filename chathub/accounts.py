"""Accounts and log-in sessions: who owns which nick, and which tokens say who someone is.

Rules:
- An account owns one nick, compared as nicks are (`nick_skeleton`: case and lookalikes
  aside). It keeps the Argon2id hash of its password, never the password.
- A log-in session (`POST /api/session`, the `chathub_session` cookie, `?token=` on `/ws`) is
  a random token of 256 bits; only its SHA-256 is kept (a token has nothing to guess, so a
  fast hash is enough, and it is found by a dictionary lookup, never compared character by
  character). It lasts `LOGIN_DAYS` and an account has at most `MAX_LOGINS` (the oldest
  goes); logging out revokes it, a password change revokes all the others.
- These are the truth while the process runs; every change is handed to the store (`save`),
  which writes it behind, so they survive restarts.
- Pure: the caller gives the time.
"""

import hashlib
import secrets
from collections.abc import Callable

from chathub.records import AccountRecord, Change, LoginRecord, Put, Remove, SavedState
from chathub.text import is_valid_nick, nick_skeleton

LOGIN_DAYS = 30
LOGIN_SECONDS = LOGIN_DAYS * 86_400.0
MAX_LOGINS = 20  # log-in sessions one account keeps at most


def token_hash(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class Accounts:
    """Every account, by nick skeleton, and every log-in session, by its token's hash."""

    def __init__(self, saved: SavedState, save: Callable[[Change], None]) -> None:
        self.save = save
        self.by_key: dict[str, AccountRecord] = {
            nick_skeleton(account.name): account for account in saved.accounts
        }
        self.logins: dict[str, LoginRecord] = {}  # token hash -> session
        for login in sorted(saved.logins, key=lambda login: login.created):
            if nick_skeleton(login.account) in self.by_key:
                self.logins[login.token_hash] = login

    def find(self, nick: str) -> AccountRecord | None:
        """The account that owns `nick` (or a nick that looks like it)."""
        return self.by_key.get(nick_skeleton(nick))

    def add(self, name: str, hash: str, now: float) -> AccountRecord:
        account = AccountRecord(name, hash, now)
        self.by_key[nick_skeleton(name)] = account
        self.save(Put(account))
        return account

    def set_hash(self, account: AccountRecord, hash: str) -> AccountRecord:
        changed = AccountRecord(account.name, hash, account.created)
        self.by_key[nick_skeleton(account.name)] = changed
        self.save(Put(changed))
        return changed

    # --- log-in sessions ----------------------------------------------------------------------

    def new_login(self, account: AccountRecord, now: float) -> tuple[str, LoginRecord]:
        """A new log-in session for `account`: its token (given to the client once) and the
        record kept of it. The account's oldest session goes past `MAX_LOGINS`."""
        token = secrets.token_urlsafe(32)
        login = LoginRecord(token_hash(token), account.name, now, now + LOGIN_SECONDS)
        mine = self.logins_of(account.name)
        for old in mine[: max(0, len(mine) - MAX_LOGINS + 1)]:
            self.revoke(old.token_hash)
        self.logins[login.token_hash] = login
        self.save(Put(login))
        return token, login

    def login(self, token: str, now: float) -> tuple[AccountRecord, LoginRecord] | None:
        """The account and session a token stands for; None when unknown or expired (an
        expired one is forgotten)."""
        login = self.logins.get(token_hash(token))
        if login is None:
            return None
        account = self.by_key.get(nick_skeleton(login.account))
        if account is None or login.expires <= now:
            self.revoke(login.token_hash)
            return None
        return account, login

    def revoke(self, hash: str) -> LoginRecord | None:
        login = self.logins.pop(hash, None)
        if login is not None:
            self.save(Remove(login))
        return login

    def revoke_others(self, name: str, keep: str | None) -> int:
        """End every log-in session of account `name` but `keep` (a token hash); how many."""
        others = [login for login in self.logins_of(name) if login.token_hash != keep]
        for login in others:
            self.revoke(login.token_hash)
        return len(others)

    def logins_of(self, name: str) -> list[LoginRecord]:
        """The account's log-in sessions, oldest first."""
        key = nick_skeleton(name)
        return [login for login in self.logins.values() if nick_skeleton(login.account) == key]


def operator_names(raw: object) -> tuple[str, ...]:
    """The server operators' account names from the file's `operators`: an array of names, or
    a table of `NAME = true` (false leaves one out); a ValueError says what is wrong."""
    if isinstance(raw, list):
        names = raw
    elif isinstance(raw, dict):
        if not all(isinstance(value, bool) for value in raw.values()):
            raise ValueError("an [operators] table maps account names to true or false")
        names = [name for name, chosen in raw.items() if chosen]
    else:
        raise ValueError("operators must be an array of account names or a table")
    for name in names:
        if not isinstance(name, str) or not is_valid_nick(name):
            raise ValueError(f"operators: {name!r} is not a valid account name (a nick)")
    return tuple(names)
