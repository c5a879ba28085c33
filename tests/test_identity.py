"""Accounts on the hub: register, identify, log out, change a password, who holds a nick."""

import itertools

import pytest

from chathub import commands as cmd
from chathub.attempts import FREE_PER_ACCOUNT
from chathub.events import Error, Event, Identified, Notice, Welcome
from chathub.hub import Hub
from chathub.passwords import InlineHasher
from chathub.store import MemoryStore
from tests.recording import RecordingClient

PASSWORD = "correct horse"


@pytest.fixture
def hub() -> Hub:
    ticks = itertools.count(1000)
    return Hub(MemoryStore(), clock=lambda: float(next(ticks)), operators=("root",))


def join(hub: Hub, nick: str | None = None, address: str = "10.0.0.1", **kwargs):
    client = RecordingClient()
    session = hub.connect(client, nick=nick, address=address, **kwargs)
    return client, session


def errors_of(client: RecordingClient) -> list[str]:
    return [item.code for item in client.of_type(Error)]


def registered(hub: Hub, nick: str, password: str = PASSWORD):
    client, session = join(hub, nick)
    hub.handle(session, cmd.Register(password))
    assert client.of_type(Identified)[-1] == Identified(nick, nick)
    return client, session


def test_register_makes_the_current_nick_an_account_and_identifies(hub):
    """`/register PASSWORD`: the nick is the client's account, kept as an Argon2id hash."""
    _client, session = registered(hub, "alice")
    assert session.account == "alice"
    account = hub.accounts.find("ALICE")
    assert account is not None and account.hash.startswith("$argon2id$")
    assert PASSWORD not in account.hash


@pytest.mark.parametrize(
    ("password", "code"), [("short", "bad-password"), ("x" * 129, "bad-password")]
)
def test_a_password_outside_the_rules_is_refused(hub, password, code):
    """Passwords are 8 to 128 characters; others are refused and nothing is registered."""
    client, session = join(hub, "alice")
    hub.handle(session, cmd.Register(password))
    assert errors_of(client) == [code]
    assert hub.accounts.find("alice") is None


def test_a_guest_nick_cannot_be_registered(hub):
    """guest-N is handed out: it can be nobody's account."""
    client, session = join(hub)
    hub.handle(session, cmd.Register(PASSWORD))
    assert errors_of(client) == ["bad-nick"]


def test_a_registered_nick_cannot_be_taken_without_identifying(hub):
    """/nick alice, or connecting as alice (or a lookalike), is refused: nick-registered."""
    _, alice = registered(hub, "alice")
    hub.disconnect(alice)
    client, bob = join(hub, "bob")
    hub.handle(bob, cmd.Nick("aIice"))
    assert errors_of(client) == ["nick-registered"]
    assert client.of_type(Error)[0].nick == "aIice"
    other, session = join(hub, "alice")
    assert session.nick.startswith("guest-") and errors_of(other) == ["nick-registered"]


def test_identify_logs_in_and_takes_the_nick(hub):
    """/identify alice PASSWORD from another nick: identified, and renamed to alice."""
    _, alice = registered(hub, "alice")
    hub.disconnect(alice)
    client, session = join(hub, "bob")
    hub.handle(session, cmd.Identify(PASSWORD, "alice"))
    assert (session.account, session.nick) == ("alice", "alice")
    assert client.of_type(Identified)[-1] == Identified("alice", "alice")


def test_identify_with_a_wrong_password_or_an_unknown_nick_is_refused(hub):
    """bad-password for a wrong password; not-registered for a nick nobody registered."""
    _, alice = registered(hub, "alice")
    hub.disconnect(alice)
    client, session = join(hub, "bob")
    hub.handle(session, cmd.Identify("wrong password", "alice"))
    hub.handle(session, cmd.Identify(PASSWORD, "carol"))
    assert errors_of(client) == ["bad-password", "not-registered"]
    assert session.account is None


def test_failed_logins_lock_the_account_then_refuse_without_hashing():
    """After FREE_PER_ACCOUNT failures the next attempt is rate-limited at once."""
    hub = Hub(MemoryStore(), clock=lambda: 1000.0)
    _, alice = registered(hub, "alice")
    hub.disconnect(alice)
    client, session = join(hub, "bob")
    for _ in range(FREE_PER_ACCOUNT + 1):
        hub.handle(session, cmd.Identify("wrong password", "alice"))
    hub.handle(session, cmd.Identify(PASSWORD, "alice"))
    assert errors_of(client)[-1] == "rate-limited"
    assert session.account is None
    assert hub.counters.logins_failed == FREE_PER_ACCOUNT + 1
    assert hub.counters.logins_limited == 1


def test_identify_takes_the_nick_from_an_unidentified_holder(hub):
    """The holder of a registered nick who is not identified (it logged out) is renamed to a
    guest nick and told why; the identified client gets the nick."""
    holder_client, holder = registered(hub, "alice")
    hub.handle(holder, cmd.Logout())
    assert (holder.nick, holder.account) == ("alice", None)
    _client, session = join(hub, "bob")
    hub.handle(session, cmd.Identify(PASSWORD, "alice"))
    assert session.nick == "alice"
    assert holder.nick.startswith("guest-")
    assert any("taken back" in n.text for n in holder_client.of_type(Notice))


def test_a_log_in_token_identifies_a_connection_and_takes_the_nick(hub):
    """Connecting with a token: identified as its account, with the account's nick, even
    when an older connection of the same account holds it (that one becomes a guest)."""
    _, alice = registered(hub, "alice")
    account = hub.accounts.find("alice")
    assert account is not None
    token, _ = hub.accounts.new_login(account, 1000.0)
    client, session = join(hub, token=token)
    assert (session.nick, session.account) == ("alice", "alice")
    assert client.items[0] == Welcome("alice", ("lobby",), hub.settings.motd, "alice")
    assert alice.nick.startswith("guest-")


def test_an_unknown_token_gets_a_guest_and_bad_token(hub):
    """A stale cookie is not fatal: a guest nick and an error saying to log in again."""
    client, session = join(hub, token="nope")
    assert session.account is None and errors_of(client) == ["bad-token"]


def test_logout_revokes_the_token_the_connection_used(hub):
    """/logout: no longer identified; the log-in session it came with is ended."""
    registered(hub, "alice")[1]
    account = hub.accounts.find("alice")
    assert account is not None
    token, _ = hub.accounts.new_login(account, 1000.0)
    client, session = join(hub, token=token)
    hub.handle(session, cmd.Logout())
    assert session.account is None
    assert client.of_type(Identified)[-1] == Identified(None, session.nick)
    assert hub.accounts.login(token, 1001.0) is None


def test_a_password_change_ends_other_logins_and_connections(hub):
    """/password OLD NEW: the new one works, the old does not, others are logged out."""
    _, alice = registered(hub, "alice")
    account = hub.accounts.find("alice")
    assert account is not None
    token, _ = hub.accounts.new_login(account, 1000.0)
    other_client, other = join(hub, "alice2", token=token)
    assert other.account == "alice"
    hub.handle(alice, cmd.Password(PASSWORD, "a new password"))
    assert other.account is None and hub.accounts.login(token, 1001.0) is None
    assert other_client.of_type(Identified)[-1].account is None
    hub.handle(alice, cmd.Logout())
    hub.handle(alice, cmd.Identify(PASSWORD))
    hub.handle(alice, cmd.Identify("a new password"))
    assert alice.account == "alice"


def test_a_server_operator_account_registers_only_from_loopback(hub):
    """An account the configuration names as operator cannot be claimed from afar."""
    client, session = join(hub, "root", address="203.0.113.9")
    hub.handle(session, cmd.Register(PASSWORD))
    assert errors_of(client) == ["not-op"]
    hub.disconnect(session)
    _local, here = join(hub, "Root", address="127.0.0.1")
    hub.handle(here, cmd.Register(PASSWORD))
    assert here.account == "Root"


def test_a_busy_hasher_answers_busy(hub):
    """When too many passwords wait for hashing, a log-in is refused at once with busy."""
    assert isinstance(hub.hasher, InlineHasher)
    hub.hasher.busy = True
    client, session = join(hub, "alice")
    hub.handle(session, cmd.Register(PASSWORD))
    assert errors_of(client) == ["busy"]


def test_accounts_survive_a_new_hub_on_the_same_store():
    """What one hub registered, the next (a restart) knows: the nick is still registered."""
    store = MemoryStore()
    first = Hub(store)
    client = RecordingClient()
    session = first.connect(client, "alice")
    first.handle(session, cmd.Register(PASSWORD))
    second = Hub(store)
    again = RecordingClient()
    second.connect(again, "alice")
    assert [e.code for e in again.of_type(Error)] == ["nick-registered"]


def test_messages_carry_their_authors_account(hub):
    """A message said by an identified client names its account; a guest's a key."""
    client, alice = registered(hub, "alice")
    hub.handle(alice, cmd.Say("hi"))
    said = [e for e in client.of_type(Event) if e.kind == "message"]
    assert said[-1].author == "alice"
    _, guest = join(hub)
    assert guest.author.startswith("~")
