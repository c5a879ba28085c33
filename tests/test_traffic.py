"""Traffic by transport: counts kept from room member counts, and as the hub counts them."""

from collections import Counter

from chathub import commands as cmd
from chathub.events import Event, Private
from chathub.hub import Hub
from chathub.store import MemoryStore
from chathub.traffic import Traffic
from tests.recording import RecordingClient

# --- the counts on their own ------------------------------------------------------------------


def test_joined_and_left_keep_each_rooms_members_by_transport():
    """`joined` and `left` keep a room's member count per transport, up and down."""
    traffic = Traffic()
    for transport in ("telnet", "telnet", "ws"):
        traffic.joined("dev", transport)
    traffic.joined("ops", "ws")
    assert traffic.rooms == {"dev": Counter(telnet=2, ws=1), "ops": Counter(ws=1)}
    traffic.left("dev", "telnet")
    assert traffic.rooms["dev"] == Counter(telnet=1, ws=1)


def test_a_room_and_a_transport_with_no_members_left_are_forgotten():
    """The last member of a transport leaving drops its key; the last of a room drops the room."""
    traffic = Traffic()
    traffic.joined("dev", "telnet")
    traffic.joined("dev", "ws")
    traffic.left("dev", "ws")
    assert traffic.rooms == {"dev": Counter(telnet=1)}
    assert "ws" not in traffic.rooms["dev"]
    traffic.left("dev", "telnet")
    assert traffic.rooms == {}


def test_leaving_a_room_never_joined_changes_nothing():
    """`left` for an unknown room is harmless and counts nothing below zero."""
    traffic = Traffic()
    traffic.left("nowhere", "telnet")
    assert traffic.rooms == {}


def test_a_delivery_to_a_room_counts_each_transports_members_times_the_items():
    """`delivered_to_room` adds members x items per transport, without a loop over members."""
    traffic = Traffic()
    for transport in ("telnet", "telnet", "telnet", "ws", "ws"):
        traffic.joined("dev", transport)
    traffic.delivered_to_room("dev", 1)
    assert traffic.deliveries == Counter(telnet=3, ws=2)
    traffic.delivered_to_room("dev", 4)
    assert traffic.deliveries == Counter(telnet=3 + 12, ws=2 + 8)


def test_a_delivery_to_a_room_without_members_counts_nothing():
    """A publication to an empty (or unknown) room adds no deliveries."""
    traffic = Traffic()
    traffic.delivered_to_room("empty", 3)
    assert sum(traffic.deliveries.values()) == 0


def test_connections_count_open_now_and_opened_since_start():
    """`opened` raises both counts; `closed` lowers only the open count."""
    traffic = Traffic()
    traffic.opened("telnet")
    traffic.opened("telnet")
    traffic.opened("ws")
    traffic.closed("telnet")
    assert traffic.connections == Counter(telnet=1, ws=1)
    assert traffic.connections_opened == Counter(telnet=2, ws=1)


# --- as the hub counts ------------------------------------------------------------------------


def connect(hub: Hub, transport: str, nick: str, room: str = "dev"):
    client = RecordingClient(transport_name=transport)
    return client, hub.connect(client, nick=nick, rooms=[room])


def test_a_room_message_counts_one_delivery_per_member_by_transport():
    """A message to a room of 3 telnet and 2 ws members counts 3 telnet and 2 ws deliveries."""
    hub = Hub(MemoryStore())
    telnet = [connect(hub, "telnet", f"t{n}") for n in range(3)]
    ws = [connect(hub, "ws", f"w{n}") for n in range(2)]
    before = Counter(hub.traffic.deliveries)
    hub.handle(telnet[0][1], cmd.Say("hello room"))
    assert hub.traffic.deliveries - before == Counter(telnet=3, ws=2)
    for client, _ in telnet + ws:
        said = [e for e in client.of_type(Event) if e.kind == "message"]
        assert [e.text for e in said] == ["hello room"]


def test_messages_said_together_count_each_item_for_each_member():
    """Two messages published as one batch count two deliveries per member."""
    hub = Hub(MemoryStore())
    _, alice = connect(hub, "telnet", "alice")
    connect(hub, "ws", "bob")
    before = Counter(hub.traffic.deliveries)
    with hub.batch():
        hub.handle(alice, cmd.Say("one"))
        hub.handle(alice, cmd.Say("two"))
    assert hub.traffic.deliveries - before == Counter(telnet=2, ws=2)


def test_members_who_left_are_no_longer_counted_as_recipients():
    """After a ws member parts, a message counts deliveries only for those still in the room."""
    hub = Hub(MemoryStore())
    _, alice = connect(hub, "telnet", "alice")
    _, bob = connect(hub, "ws", "bob")
    hub.handle(bob, cmd.Part("dev"))
    before = Counter(hub.traffic.deliveries)
    hub.handle(alice, cmd.Say("anyone?"))
    assert hub.traffic.deliveries - before == Counter(telnet=1)


def test_a_private_message_counts_a_delivery_to_each_end_by_its_transport():
    """`/msg` is delivered to its recipient and to its sender's copy, each by its transport."""
    hub = Hub(MemoryStore())
    alice_client, alice = connect(hub, "telnet", "alice", room="a")
    bob_client, _ = connect(hub, "ws", "bob", room="b")
    before = Counter(hub.traffic.deliveries)
    hub.handle(alice, cmd.Msg("bob", "psst"))
    assert hub.traffic.deliveries - before == Counter(telnet=1, ws=1)
    assert [p.text for p in bob_client.of_type(Private)] == ["psst"]
    assert [p.text for p in alice_client.of_type(Private)] == ["psst"]


def test_a_private_message_with_a_ref_counts_the_senders_copy_too():
    """A ref'd `/msg` (as WebSocket clients send it) counts its sender's copy as a delivery."""
    hub = Hub(MemoryStore())
    _, alice = connect(hub, "ws", "alice", room="a")
    connect(hub, "telnet", "bob", room="b")
    before = Counter(hub.traffic.deliveries)
    hub.handle(alice, cmd.Msg("bob", "psst", ref=7))
    assert hub.traffic.deliveries - before == Counter(telnet=1, ws=1)


def test_messages_in_count_say_me_and_msg_by_the_senders_transport():
    """Say, me and msg count as messages in for the sender's transport; other commands do not."""
    hub = Hub(MemoryStore())
    _, alice = connect(hub, "telnet", "alice")
    _, bob = connect(hub, "ws", "bob")
    hub.handle(alice, cmd.Say("hi"))
    hub.handle(bob, cmd.Me("waves"))
    hub.handle(bob, cmd.Msg("alice", "psst"))
    hub.handle(bob, cmd.Say("and hello"))
    for command in (cmd.Join("ops"), cmd.Who("dev"), cmd.Rooms(), cmd.Nick("robert")):
        hub.handle(bob, command)
    assert hub.traffic.messages_in == Counter(telnet=1, ws=3)


def test_connections_by_transport_follow_connects_and_disconnects():
    """Connecting counts an open and an opened connection; disconnecting lowers only the open."""
    hub = Hub(MemoryStore())
    _, alice = connect(hub, "telnet", "alice")
    connect(hub, "telnet", "carol")
    _, bob = connect(hub, "ws", "bob")
    hub.disconnect(alice)
    hub.disconnect(bob)
    hub.disconnect(bob)  # twice: counted once
    assert hub.traffic.connections == Counter(telnet=1, ws=0)
    assert hub.traffic.connections_opened == Counter(telnet=2, ws=1)
    assert hub.traffic.rooms == {"dev": Counter(telnet=1)}
