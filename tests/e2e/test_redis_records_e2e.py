"""Accounts, bans and rooms' settings with many processes: real chathub processes sharing a
real redis-server (see test_redis_e2e.py), each change made on one holding on the other."""

from tests.e2e.accounts import PASSWORD, http, is_type, log_in, registered, telnet, web
from tests.e2e.conftest import HubProcess, TelnetClient
from tests.e2e.test_redis_e2e import get_json, hub_on, redis, two, wait_for  # noqa: F401 - the fixtures


def test_an_account_registered_on_one_process_logs_in_on_the_other(two):  # noqa: F811
    """Registered on the first: its nick is refused to guests of the second, /identify and
    POST /api/session work there, and that log-in's token identifies a WebSocket on the first."""
    first, second = two
    alice = registered(first, "alice")
    guest = telnet(second)
    guest.send("/nick aIice")
    guest.expect("! the nick aIice is registered; /identify aIice PASSWORD")
    alice.close()
    guest.send(f"/identify alice {PASSWORD}")
    guest.expect("* you are identified as alice")
    guest.close()
    token = log_in(second, "alice")
    status, _, body = http(second, "POST", "/api/session", {"nick": "alice", "password": "wrong"})
    assert status == 401, body
    browser = web(first, f"?token={token}")
    welcome = browser.expect(is_type("welcome"))
    assert (welcome["nick"], welcome["account"]) == ("alice", "alice")
    browser.close()


def test_a_password_changed_on_one_process_is_the_one_on_the_other(two):  # noqa: F811
    first, second = two
    alice = registered(first, "alice")
    alice.send(f"/password {PASSWORD} a-new-long-password")
    alice.expect("* password changed")
    other = telnet(second)
    other.send(f"/identify alice {PASSWORD}")
    other.expect("! ")
    other.send("/identify alice a-new-long-password")
    other.expect("* you are identified as alice")


def owner_and_guest(first: HubProcess, second: HubProcess) -> tuple[TelnetClient, TelnetClient]:
    """alice, registered on `first`, owns dev; bob, a guest on `second`, is in it."""
    alice = registered(first, "alice")
    alice.send("/join dev")
    alice.expect("* you are the owner of dev")
    bob = telnet(second, "bob")
    bob.send("/join dev")
    alice.expect("[dev] -> bob joined")
    return alice, bob


def test_a_ban_set_on_one_process_holds_on_the_other(two):  # noqa: F811
    """The owner bans bob on the first process; bob, on the second, is put out of the room at
    once, refused when he joins again, and the ban is listed on both; lifted, he joins."""
    first, second = two
    alice, bob = owner_and_guest(first, second)
    alice.send("/ban bob 2h spam")
    bob.expect("[dev] * alice banned bob for 2h (spam)")
    bob.expect("[dev] <- bob was kicked by alice (banned: spam)")
    bob.send("/join dev")
    bob.expect("! you are banned from dev (until ")
    carol = telnet(second, "carol")
    carol.send("/join dev")
    carol.expect("[dev] -> carol joined")
    assert sorted(get_json(second, "/api/rooms")["rooms"], key=str) == sorted(
        get_json(first, "/api/rooms")["rooms"], key=str
    )
    alice.send("/unban bob")
    alice.expect("[dev] * alice lifted the ban on bob")
    bob.send("/join dev")
    bob.expect("[dev] -> bob joined")


def dev_visible(hub: HubProcess) -> bool:
    """Whether `hub` shows dev's history to anyone (not while it is invite-only: the room is
    then, to an anonymous request, an empty one)."""
    return bool(get_json(hub, "/api/rooms/dev/messages")["events"])


def test_a_topic_and_modes_set_on_one_process_hold_on_the_other(two):  # noqa: F811
    first, second = two
    alice = registered(first, "alice")
    alice.send("/join dev")
    alice.expect("* you are the owner of dev")
    alice.send("/topic release on Friday")
    alice.expect("[dev] * alice set the topic: release on Friday")
    alice.send("hello dev")
    alice.expect("[dev] <alice> hello dev")
    alice.send("/mode +i")
    alice.expect("[dev] * alice set mode +i")
    # The change reaches the other process through Redis a moment later (alice's echo does not
    # wait for it).
    wait_for(lambda: dev_visible(second) is False, 5, "the other process knows dev is +i")
    bob = telnet(second, "bob")
    bob.send("/join dev")
    bob.expect("! dev is invite-only: an operator must invite you")
    alice.send("/mode -i")
    alice.expect("[dev] * alice set mode -i")
    wait_for(lambda: dev_visible(second) is True, 5, "the other process knows dev is -i")
    bob.send("/join dev")
    bob.expect("* topic of dev: release on Friday")


def test_a_message_edited_on_one_process_is_served_edited_by_the_other(two):  # noqa: F811
    first, second = two
    alice = registered(first, "alice")
    bob = telnet(second, "bob")
    alice.send("first draft")
    bob.expect("<alice> first draft")
    alice.send("to be deleted")
    bob.expect("<alice> to be deleted")
    events = get_json(second, "/api/rooms/lobby/messages")["events"]
    first_id, second_id = events[0]["id"], events[1]["id"]
    alice.send(f"/edit {first_id} final text")
    bob.expect("final text")
    alice.send(f"/delete {second_id}")
    bob.expect(f"deleted #{second_id}")
    for hub in two:
        texts = [e["text"] for e in get_json(hub, "/api/rooms/lobby/messages")["events"]]
        assert texts == ["final text"]


def test_a_process_started_later_knows_the_accounts_and_bans_made_before(
    two,  # noqa: F811
    redis,  # noqa: F811
    tmp_path,
):
    """Records are read from Redis at start: a third process knows the account and the ban."""
    first, _ = two
    alice = registered(first, "alice")
    alice.send("/join dev")
    alice.expect("* you are the owner of dev")
    alice.send("/ban mallory 1h spam")
    alice.expect("[dev] * alice banned mallory")
    alice.close()
    third = hub_on(redis, tmp_path, "three")
    try:
        late = telnet(third)
        late.send(f"/identify alice {PASSWORD}")
        late.expect("* you are identified as alice")
        mallory = telnet(third, "mallory")
        mallory.send("/join dev")
        mallory.expect("! you are banned from dev (until ")
    finally:
        third.stop()


def test_kick_voice_and_kill_reach_a_guest_on_the_other_process(redis, tmp_path):  # noqa: F811
    """A guest is held by one process only, so `/voice`, `/kick` and `/kill` of a guest on the
    other process are carried out there: the guest is voiced, put out and disconnected as on
    one process, the room sees each change, and the actor's answer comes back to it."""
    config = tmp_path / "chathub.toml"
    config.write_text('operators = ["root"]\n')
    first, second = (
        hub_on(redis, tmp_path, name, "--config", str(config)) for name in ("one", "two")
    )
    try:
        alice, bob = owner_and_guest(first, second)
        alice.send("/voice bob")
        bob.expect("[dev] * alice set mode +v bob")
        alice.expect("* bob is now voiced in dev")
        alice.send("/kick bob spam")
        bob.expect("[dev] <- bob was kicked by alice (spam)")
        alice.expect("[dev] <- bob was kicked by alice (spam)")
        alice.expect("* kicked bob from dev")
        bob.send("/join dev")  # a kick is not a ban
        alice.expect("[dev] -> bob joined")
        alice.send("/mode +i")
        alice.expect("[dev] * alice set mode +i")
        carol = telnet(second, "carol")
        carol.send("/join dev")
        carol.expect("! dev is invite-only")
        alice.send("/invite carol")
        carol.expect("* alice invited you to dev")
        alice.expect("* invited carol to dev")
        carol.send("/join dev")  # through its own process, which holds the invitation
        alice.expect("[dev] -> carol joined")
        dave = registered(second, "dave")  # an account: invited on its process too
        dave.send("/join dev")
        dave.expect("! dev is invite-only")
        alice.send("/invite dave")
        dave.expect("* alice invited you to dev")
        alice.expect("* invited dave to dev")
        dave.send("/join dev")
        alice.expect("[dev] -> dave joined")
        alice.send("/kick nobody-here")
        alice.expect("is not in dev")
        root = registered(first, "root")
        root.send("/kill bob enough")
        bob.expect("! you were disconnected by root: enough")
        root.expect("* disconnected bob")
        alice.expect("[dev] <- bob left (killed by root: enough)")
    finally:
        for hub in (first, second):
            hub.process.kill()
            hub.process.wait()
