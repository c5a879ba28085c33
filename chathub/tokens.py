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
import secrets
from dataclasses import dataclass
from typing import Any

from chathub.text import is_valid_nick, nick_skeleton, normalize_room

PREFIX = "chathub_"
ANY_ROOM = "*"
DEFAULT_RATE = 10.0
_KEYS = frozenset(("name", "nick", "rooms", "rate", "hash"))


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
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            raise ValueError(f"{label}: rate must be a number above 0")
        digest = table.get("hash")
        if not isinstance(digest, str) or not digest.startswith("sha256:") or len(digest) != 71:
            raise ValueError(f"{label}: hash must be the sha256:... line `chathub token` printed")
        if name in names:
            raise ValueError(f"{label}: declared twice")
        if nick_skeleton(nick) in nicks:
            raise ValueError(f"{label}: nick {nick} belongs to another token")
        names.add(name)
        nicks.add(nick_skeleton(nick))
        tokens.append(Token(name, nick, tuple(normalized), float(rate), digest))
    return tuple(tokens)


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
    rooms = ", ".join(f'"{room}"' for room in token.rooms)
    return (
        "[[tokens]]\n"
        f'name = "{token.name}"\n'
        f'nick = "{token.nick}"\n'
        f"rooms = [{rooms}]\n"
        f"rate = {token.rate:g}\n"
        f'hash = "{token.hash}"\n'
    )
