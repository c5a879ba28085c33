"""Records over Redis with a fake backplane: what a change sends, how another process's change
lands in the hub's models, what a reload applies, and a ban made elsewhere enforced here."""

import json

from twisted.internet import defer

from chathub.events import BanEntry, Event
from chathub.records import (
    GLOBAL,
    AccountRecord,
    BanRecord,
    LoginRecord,
    Put,
    Remove,
    RoleRecord,
    RoomRecord,
)
from chathub.redisbroker import RedisBroker
from chathub.redisrecords import decode, encode, field
from chathub.text import nick_skeleton
from tests.recording import RecordingClient
from tests.test_redisbroker import made as made_unattached
from tests.test_redisbroker import open_rooms

ACCOUNT = AccountRecord("alice", "$argon2id$hash", 1.0)
BAN = BanRecord("dev", "bob", "alice", "spam", 2.0, None)


def made():  # type: ignore[no-untyped-def]
    """The broker's fixture, with the records attached to the hub as the service does."""
    backplane, store, broker, hub, clock = made_unattached()
    store.records.attach(hub)
    return backplane, store, broker, hub, clock


def push(broker: RedisBroker, origin: str, op: str, record: object) -> None:
    body = json.dumps({"op": op, "record": json.loads(encode(record))})  # type: ignore[arg-type]
    broker.pushed(b"R %s 0 %s" % (origin.encode(), body.encode()))


def test_every_kind_of_record_survives_its_json():
    records = [
        ACCOUNT, LoginRecord("sha256:ab", "alice", 1.0, 9.0), RoomRecord("dev", "alice", "hi"),
        RoleRecord("dev", "bob", "op"), BAN, BanRecord(GLOBAL, "10.0.0.0/8", "root", "", 1.0, 5.0),
    ]  # fmt: skip
    assert [decode(encode(record)) for record in records] == records
    assert decode(b'{"kind":"nothing"}') is None
    assert field(BAN) == "ban\tdev\tbob"


def test_a_change_here_is_kept_and_sent_to_the_others_in_one_script():
    backplane, store, _, hub, _ = made()
    hub.accounts.add("alice", "$argon2id$hash", 1.0)
    [(args, _)] = backplane.taken("record")
    origin, op, key, value, message = args
    assert (origin, op, key) == ("here", "put", "account\t" + nick_skeleton("alice"))
    assert decode(value) == AccountRecord("alice", "$argon2id$hash", 1.0)
    assert message.startswith(b"R here 0 ")
    assert store.load_state().accounts == [AccountRecord("alice", "$argon2id$hash", 1.0)]


def test_changes_made_while_redis_is_away_are_written_when_it_is_back():
    backplane, store, _, hub, _ = made()
    backplane.lose()
    hub.accounts.add("alice", "h", 1.0)
    assert backplane.taken("record") == []
    backplane.available = True
    reloading = defer.ensureDeferred(store.records.reload())
    [(args, answer)] = backplane.taken("command")
    assert args == ("HGETALL", "chathub:records")
    answer.callback([])
    assert reloading.called
    [(sent, _)] = backplane.taken("record")
    assert sent[2] == "account\t" + nick_skeleton("alice")
    assert hub.accounts.find("alice") is not None  # not removed by the reload: it was mine


def test_another_processs_changes_land_in_the_hubs_models():
    _, _, broker, hub, _ = made()
    push(broker, "there", "put", ACCOUNT)
    push(broker, "there", "put", LoginRecord("sha256:ab", "alice", 1.0, 9.0))
    push(broker, "there", "put", RoomRecord("dev", "alice", "release", modes="is"))
    push(broker, "there", "put", RoleRecord("dev", "bob", "op"))
    push(broker, "there", "put", BanRecord(GLOBAL, "mallory", "root", "", 1.0))
    assert hub.accounts.find("ALICE") == ACCOUNT
    assert "sha256:ab" in hub.accounts.logins
    state = hub.room_states.get("dev")
    assert state is not None and state.topic == "release" and state.modes == "is"
    assert "dev" in hub.room_states.private and state.holds("op", "bob")
    assert hub.bans.match(GLOBAL, "mallory", None, "", 5.0) is not None
    push(broker, "there", "del", ACCOUNT)
    push(broker, "there", "del", RoleRecord("dev", "bob", "op"))
    push(broker, "there", "del", BanRecord(GLOBAL, "mallory", "root", "", 1.0))
    assert hub.accounts.find("alice") is None and not state.holds("op", "bob")
    assert hub.bans.match(GLOBAL, "mallory", None, "", 5.0) is None


def test_a_process_ignores_its_own_changes_coming_back():
    _, _, broker, hub, _ = made()
    push(broker, "here", "put", ACCOUNT)
    assert hub.accounts.find("alice") is None


def test_a_reload_applies_what_differs_and_forgets_what_is_gone():
    backplane, store, _, hub, _ = made()
    store.records._take(Put(AccountRecord("old", "h", 1.0)), enforce=False)
    reloading = defer.ensureDeferred(store.records.reload())
    [(_, answer)] = backplane.taken("command")
    answer.callback([field(ACCOUNT).encode(), encode(ACCOUNT).encode()])
    assert reloading.called
    assert hub.accounts.find("old") is None and hub.accounts.find("alice") == ACCOUNT


def test_a_room_ban_from_elsewhere_puts_the_member_here_out_when_its_event_comes():
    backplane, store, broker, hub, _ = made()
    bob = RecordingClient()
    session = hub.connect(bob, "bob", rooms=["dev"])
    open_rooms(backplane, ("dev", 0))
    hub.flush()
    assert "dev" in session.rooms
    push(broker, "there", "put", BAN)
    assert "dev" in session.rooms  # the record first: the event puts him out
    event = Event("dev", "ban", "alice", "spam", 3.0, target="bob")
    store.records.announced(event)
    assert "dev" not in session.rooms
    sent = b"".join(args[-1] for args, _ in backplane.taken("publish"))
    assert b'"k":"kick"' in sent and b'"g":"bob"' in sent and b"banned: spam" in sent


def test_a_server_ban_from_elsewhere_disconnects_at_once():
    _, _, broker, hub, _ = made()
    mallory = RecordingClient()
    hub.connect(mallory, "mallory")
    push(broker, "there", "put", BanRecord(GLOBAL, "mallory", "root", "", 1.0))
    assert mallory.closed


def test_a_removed_room_record_leaves_the_room_without_settings():
    _, store, _, hub, _ = made()
    store.records._take(Put(RoomRecord("dev", "alice", "t", modes="m")), enforce=False)
    assert "dev" in hub.room_states.moderated
    store.records._take(Remove(RoomRecord("dev")), enforce=False)
    assert "dev" not in hub.room_states.moderated
    assert hub.bans.of("dev", 0.0) == ()
    assert BanEntry  # the models' own type, used by the bans applied above
