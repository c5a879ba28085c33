"""API tokens: who may publish over HTTP, as which bot nick, in which rooms, how fast.

Rules:
- A token is declared in the configuration file as a `[[tokens]]` table: `name`, `nick` (the
  bot's nick, reserved for it: no client may take it), `rooms` (names, or `["*"]` for any),
  `rate` (messages a second, its burst twice that) and `hash`. Only the hash is kept: the
  secret is shown once by `chathub token NAME` and never stored.
- The hash is SHA-256 of the secret, not a slow password hash: a secret is 32 random bytes, so
  there is nothing to guess, and every request must be checked fast. A presented token is found
  by its hash (a dictionary lookup, no secret compared character by character).
- Pure, apart from making a new secret.
"""

import hashlib
import json
import math
import secrets
from dataclasses import dataclass
from typing import Any

from chathub.text import is_valid_nick, nick_skeleton, normalize_room

PREFIX = "chathub_"
ANY_ROOM = "*"
DEFAULT_RATE = 10.0
_KEYS = frozenset(("name", "nick", "rooms", "rate", "hash"))
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Token:
    name: str
    nick: str
    rooms: tuple[str, ...]
    rate: float
    hash: str

    def allows(self, room: str) -> bool:
        return ANY_ROOM in self.rooms or room in self.rooms


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_tokens(tables: tuple[dict[str, Any], ...]) -> tuple[Token, ...]:
    """The `[[tokens]]` tables as tokens; a ValueError names the token and what is wrong."""
    tokens: list[Token] = []
    names: set[str] = set()
    nicks: set[str] = set()
    hashes: dict[str, str] = {}  # hash -> the token that has it
    for position, table in enumerate(tables, start=1):
        label = f"[[tokens]] number {position}"
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise ValueError(
                f"{label}: unknown key {unknown[0]} (keys: {', '.join(sorted(_KEYS))})"
            )
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{label}: name must be a non-empty string")
        label = f"token {name}"
        nick = table.get("nick")
        if not isinstance(nick, str) or not is_valid_nick(nick):
            raise ValueError(f"{label}: nick {nick!r} is not a valid nick")
        rooms = table.get("rooms", [ANY_ROOM])
        if not isinstance(rooms, list) or not rooms or not all(isinstance(r, str) for r in rooms):
            raise ValueError(f'{label}: rooms must be a list of room names, or ["*"]')
        normalized: list[str] = []
        for room in rooms:
            name_ = room if room == ANY_ROOM else normalize_room(room)
            if name_ is None:
                raise ValueError(f"{label}: {room!r} is not a valid room")
            normalized.append(name_)
        rate = table.get("rate", DEFAULT_RATE)
        # Finite: an infinite rate has no burst (twice infinity is no whole number).
        if (
            isinstance(rate, bool)
            or not isinstance(rate, int | float)
            or not (rate > 0 and math.isfinite(rate))
        ):
            raise ValueError(f"{label}: rate must be a number above 0")
        digest = _digest(table.get("hash"))
        if digest is None:
            raise ValueError(f"{label}: hash must be the sha256:... line `chathub token` printed")
        if name in names:
            raise ValueError(f"{label}: declared twice")
        if nick_skeleton(nick) in nicks:
            raise ValueError(f"{label}: nick {nick} belongs to another token")
        if digest in hashes:  # one secret would stand for two tokens: the first would win
            raise ValueError(f"{label}: hash is also token {hashes[digest]}'s (run chathub token)")
        names.add(name)
        nicks.add(nick_skeleton(nick))
        hashes[digest] = name
        tokens.append(Token(name, nick, tuple(normalized), float(rate), digest))
    return tuple(tokens)


def _digest(value: object) -> str | None:
    """`sha256:` and 64 hex digits, in lower case as `hash_secret` makes them; else None."""
    if not isinstance(value, str) or not value.startswith("sha256:") or len(value) != 71:
        return None
    digits = value[7:].lower()
    return "sha256:" + digits if set(digits) <= _HEX else None


class TokenTable:
    """The configured tokens, found by a presented secret."""

    def __init__(self, tokens: tuple[Token, ...]) -> None:
        self.tokens = tokens
        self._by_hash = {token.hash: token for token in tokens}

    def find(self, presented: str) -> Token | None:
        return self._by_hash.get(hash_secret(presented))

    def bot_nicks(self) -> dict[str, str]:
        """nick key -> token name, for the hub to keep those nicks for their bots."""
        return {nick_skeleton(token.nick): token.name for token in self.tokens}


def config_entry(token: Token) -> str:
    """The `[[tokens]]` table to paste into the configuration file."""
    rooms = ", ".join(_string(room) for room in token.rooms)
    return (
        "[[tokens]]\n"
        f"name = {_string(token.name)}\n"
        f"nick = {_string(token.nick)}\n"
        f"rooms = [{rooms}]\n"
        f"rate = {_number(token.rate)}\n"
        f"hash = {_string(token.hash)}\n"
    )


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, and characters past ASCII stay as they
    are (TOML has no escapes for the halves of a surrogate pair)."""
    return json.dumps(text, ensure_ascii=False)


def _number(rate: float) -> str:
    """`5` for a whole rate, else the float exactly (`:g` would turn 1234567 into 1.23457e+06)."""
    return str(int(rate)) if rate.is_integer() and abs(rate) < 1e15 else repr(rate)
