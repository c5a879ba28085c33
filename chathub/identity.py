"""Identity: registering a nick, identifying, logging out, changing a password, and who may hold
a registered nick.

Rules:
- Pure hub rules, called by `Hub.handle` and `Hub.connect` (and `check_password` by the HTTP
  log-in). Answers go through `Hub.tell`, nick changes through `nicks.change`, so the hub's
  ordering rules hold.
- The slow part, Argon2id, is the hasher's (`passwords.Hasher`, off the reactor thread); while
  it works the client's later commands wait (`Hub.when_done`). When the hasher is too busy the
  answer is `busy` at once.
- Guessing is slowed (`attempts.py`): an attempt while its address or account is locked is
  refused (`rate-limited`) without hashing; a wrong password is answered after
  `FAILURE_DELAY`, the client's commands held meanwhile.
- A registered nick is held only by a client identified as its account. An identified client
  gets its account's nick: a connection holding it that is not identified as the account (it
  logged out), or that is an older connection of the same account, is renamed to a guest
  nick and told why.
- `/logout` keeps the nick until the account identifies elsewhere; a password change ends the
  account's other log-in sessions and logs its other connections out.
- Nicks handed to guests (`guest-...`) cannot be registered; the accounts the configuration
  names as server operators can be registered only from the server's own machine (a loopback
  address), so nobody else can claim them first.
"""

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING

from chathub import commands as cmd
from chathub import errors, passwords
from chathub import nicks as nick_rules
from chathub.attempts import FAILURE_DELAY
from chathub.commands import Ref
from chathub.events import Error, Identified, Notice
from chathub.records import GLOBAL, AccountRecord
from chathub.text import is_valid_nick, nick_skeleton

if TYPE_CHECKING:
    from chathub.hub import Hub
    from chathub.session import Session

GUEST_PREFIX = "guest-"


def handle(hub: "Hub", session: "Session", command: cmd.AccountCommand) -> None:
    match command:
        case cmd.Register(password, ref):
            register(hub, session, password, ref)
        case cmd.Identify(password, nick, ref):
            identify(hub, session, password, nick, ref)
        case cmd.Logout(ref):
            logout(hub, session, ref)
        case cmd.Password(old, new, ref):
            change_password(hub, session, old, new, ref)


def _alive(hub: "Hub", session: "Session") -> bool:
    return hub.sessions.get(nick_skeleton(session.nick)) is session


def _same(one: str | None, other: str | None) -> bool:
    return one is not None and other is not None and nick_skeleton(one) == nick_skeleton(other)


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return address == "local"  # a UNIX socket is on this machine


def check_password(
    hub: "Hub",
    address: str,
    nick: str,
    password: str,
    answer: Callable[[AccountRecord | Error], None],
) -> None:
    """Check a log-in to the account owning `nick` from `address`; `answer` gets the account,
    or the refusal (a wrong password after `FAILURE_DELAY`)."""
    account = hub.accounts.find(nick) if is_valid_nick(nick) else None
    if account is None:
        answer(errors.not_registered(nick))
        return
    now = hub.clock()
    wait = hub.attempts.wait(address, account.name, now)
    if wait > 0:
        hub.counters.logins_limited += 1
        answer(errors.login_locked(wait))
        return
    ban = hub.bans.match(GLOBAL, None, account.name, address, now)
    if ban is not None:
        answer(errors.banned(None, ban.reason, None))
        return

    def checked(ok: bool) -> None:
        if ok:
            hub.attempts.succeeded(account.name)
            answer(hub.accounts.find(account.name) or account)
            return
        hub.counters.logins_failed += 1
        hub.attempts.failed(address, account.name, hub.clock())
        if hub.later is None:
            answer(errors.bad_password())
        else:
            hub.later(FAILURE_DELAY, lambda: answer(errors.bad_password()))

    if not hub.hasher.verify(account.hash, password, checked):
        answer(errors.busy())


def identify(
    hub: "Hub", session: "Session", password: str, nick: str | None, ref: Ref | None
) -> None:
    name = nick or session.nick
    account = hub.accounts.find(name) if is_valid_nick(name) else None
    if account is not None and _same(session.account, account.name):
        hub.tell(session, Notice(f"you are already identified as {account.name}"), ref)
        return

    def start(done: Callable[[], None]) -> None:
        def answered(result: AccountRecord | Error) -> None:
            if _alive(hub, session):
                if isinstance(result, Error):
                    hub.tell(session, result, ref)
                else:
                    become(hub, session, result, None, ref)
            done()

        check_password(hub, session.address, name, password, answered)

    hub.when_done(session, start)


def become(
    hub: "Hub", session: "Session", account: AccountRecord, login: str | None, ref: Ref | None
) -> None:
    """`session` is identified as `account` now: it gets the account's nick, and is told."""
    session.account, session.login = account.name, login
    take_nick(hub, account.name, session)
    hub.tell(session, Identified(account.name, session.nick), ref)


def free_nick(hub: "Hub", name: str, taker: "Session | None") -> bool:
    """Make account `name`'s nick free for `taker` (None: a client connecting): a holder
    that is not identified as the account, or is another connection of it, is renamed to a
    guest nick and told. False when it cannot be freed."""
    holder = hub.sessions.get(nick_skeleton(name))
    if holder is None or holder is taker:
        return True
    if holder.account is not None and not _same(holder.account, name):
        return False
    guest = nick_rules.next_guest(hub)
    why = "you logged in there too" if _same(holder.account, name) else "its account identified"
    hub.tell(holder, Notice(f"the nick {holder.nick} was taken back ({why}); you are {guest}"))
    nick_rules.change(hub, holder, guest, None)
    return True


def take_nick(hub: "Hub", name: str, session: "Session") -> None:
    """Give `session`, identified as account `name`, that account's nick, if it can."""
    if nick_skeleton(session.nick) == nick_skeleton(name):
        return
    if free_nick(hub, name, session):
        nick_rules.change(hub, session, name, None)


def register(hub: "Hub", session: "Session", password: str, ref: Ref | None) -> None:
    nick = session.nick
    error: Error | None = None
    if session.account is not None:
        error = Error("already-identified", f"you are identified as {session.account}")
    elif nick_skeleton(nick).startswith(GUEST_PREFIX):
        error = Error("bad-nick", "a guest nick cannot be registered: choose a nick first")
    elif hub.accounts.find(nick) is not None:
        error = errors.nick_registered(nick)
    elif nick_skeleton(nick) in hub.operators and not is_loopback(session.address):
        error = Error(
            "not-op",
            f"the nick {nick} is a server operator's: it can be registered only from the "
            "server's own machine",
        )
    elif (why := passwords.problem(password)) is not None:
        error = errors.password_rule(why)
    elif (wait := hub.attempts.register(session.address, hub.clock())) > 0:
        error = Error(
            "rate-limited",
            f"too many sign-ups from your address; try again in {errors.seconds(wait)}",
        )
    if error is not None:
        hub.tell(session, error, ref)
        return

    def start(done: Callable[[], None]) -> None:
        def hashed(hash: str | None) -> None:
            if not _alive(hub, session):
                pass
            elif hash is None:
                hub.tell(session, Error("internal", "the password could not be hashed"), ref)
            elif session.nick != nick or hub.accounts.find(nick) or session.account:
                hub.tell(session, errors.nick_registered(nick), ref)
            else:
                account = hub.accounts.add(nick, hash, hub.clock())
                session.account = account.name
                hub.tell(session, Identified(account.name, session.nick), ref)
            done()

        if not hub.hasher.hash(password, hashed):
            hub.tell(session, errors.busy(), ref)
            done()

    hub.when_done(session, start)


def logout(hub: "Hub", session: "Session", ref: Ref | None) -> None:
    if session.account is None:
        hub.tell(session, errors.not_identified(), ref)
        return
    if session.login is not None:
        hub.accounts.revoke(session.login)
    session.account = session.login = None
    hub.tell(session, Identified(None, session.nick), ref)


def log_out_connections(hub: "Hub", name: str, keep: "Session | None", why: str) -> None:
    """Every connection identified as account `name` but `keep` is logged out, and told."""
    for other in list(hub.sessions.values()):
        if other is not keep and _same(other.account, name):
            other.account = other.login = None
            hub.tell(other, Notice(f"you were logged out: {why}"))
            hub.tell(other, Identified(None, other.nick))


def log_out_login(hub: "Hub", login: str) -> None:
    """The log-in session `login` (a token hash) ended: connections identified with it are
    logged out, and told."""
    for other in list(hub.sessions.values()):
        if other.login == login:
            other.account = other.login = None
            hub.tell(other, Notice("you were logged out: your log-in session ended"))
            hub.tell(other, Identified(None, other.nick))


def change_password(hub: "Hub", session: "Session", old: str, new: str, ref: Ref | None) -> None:
    name = session.account
    if name is None:
        hub.tell(session, errors.not_identified(), ref)
        return
    if (why := passwords.problem(new)) is not None:
        hub.tell(session, errors.password_rule(why), ref)
        return

    def start(done: Callable[[], None]) -> None:
        def checked(result: AccountRecord | Error) -> None:
            if isinstance(result, Error):
                hub.tell(session, result, ref)
                done()
            elif not hub.hasher.hash(new, lambda hash: hashed(result, hash)):
                hub.tell(session, errors.busy(), ref)
                done()

        def hashed(account: AccountRecord, hash: str | None) -> None:
            if hash is None:
                hub.tell(session, Error("internal", "the password could not be hashed"), ref)
            else:
                hub.accounts.set_hash(account, hash)
                ended = hub.accounts.revoke_others(account.name, session.login)
                log_out_connections(hub, account.name, session, "the password was changed")
                hub.tell(session, Notice(f"password changed; {ended} other log-ins ended"), ref)
            done()

        check_password(hub, session.address, name, old, checked)

    hub.when_done(session, start)
