"""A new client's nick with many processes: claimed from the roster before it is given.

Rules:
- Pure hub rules (no I/O), used by `Hub.connect` only when the hub has a roster.
- Until the claim is answered the client waits (`Hub.when_done`) under a placeholder nick that
  no client can have (`PENDING`), and is welcomed then with the nick it got: the one asked
  for, or a guest's when that one is held elsewhere (the welcome then says who holds it).
- The roster unreachable: the client is told (`unavailable`) and closed.
"""

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from chathub import errors
from chathub.broker import Claim
from chathub.events import Error
from chathub.limits import MinuteCounter
from chathub.session import Client, Session
from chathub.text import nick_skeleton

if TYPE_CHECKING:
    from chathub.hub import Hub

PENDING = "\x00pending-"  # a waiting client's placeholder nick: no nick starts with NUL


def connect(
    hub: "Hub",
    client: Client,
    nick: str | None,
    rooms: Iterable[str],
    since: dict[str, int] | None,
    problems: list[Error],
    address: str,
    account: str | None,
    login: str | None,
) -> Session:
    """`Hub.connect` with a roster (see the module's rules)."""
    roster = hub.roster
    assert roster is not None
    hub.guest_number += 1
    session = Session(
        client,
        f"{PENDING}{hub.guest_number}",
        nick_changes=MinuteCounter(hub.settings.nick_changes_per_minute),
        joins=MinuteCounter(hub.settings.joins_per_minute),
        address=address,
        account=account,
        login=login,
    )
    placeholder = nick_skeleton(session.nick)
    hub.sessions[placeholder] = session
    hub.traffic.opened(client.transport_name)
    asked = nick_skeleton(nick) if nick is not None else None
    if asked is not None:
        hub.claiming[asked] = session
    rooms = tuple(rooms)

    def start(done: Callable[[], None]) -> None:
        def claimed(claim: Claim | None) -> None:
            if asked is not None and hub.claiming.get(asked) is session:
                del hub.claiming[asked]
            if hub.sessions.get(placeholder) is not session:  # gone meanwhile
                if claim is not None and claim.nick is not None:
                    roster.release(claim.nick)
            elif claim is None or claim.nick is None:
                client.deliver(errors.backplane_away())
                hub.disconnect(session, "unavailable")
                client.close()
            else:
                del hub.sessions[placeholder]
                session.nick = claim.nick
                hub.sessions[nick_skeleton(claim.nick)] = session
                if claim.holder is not None and nick is not None:
                    problems.append(errors.nick_taken(nick, claim.holder))
                hub.welcome(session, rooms, since, problems)
            done()

        roster.claim(nick, None, (), claimed)

    hub.when_done(session, start)
    return session
