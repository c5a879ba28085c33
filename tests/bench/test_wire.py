"""What the bench sends and how it counts what comes back (`chathub/bench/wire.py`): every
counter is fed whole streams, one byte at a time, and streams cut at random places."""

import json
import random

from chathub.bench.wire import (
    RESP_MESSAGE,
    AnswerCounter,
    FrameCounter,
    LatencySampler,
    LineCounter,
    PatternCounter,
    http_publish,
    make_payload,
    marker_counter,
    resp_command,
    resp_counter,
    sse_request,
    ws_client_frame,
)


def splits(data: bytes, seed: int) -> list[list[bytes]]:
    """The same stream whole, one byte at a time, and cut at random places."""
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), min(40, len(data) - 1)))
    random_parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return [[data], [data[i : i + 1] for i in range(len(data))], random_parts]


def server_frame(payload: bytes, opcode: int = 1, fin: bool = True) -> bytes:
    """An unmasked frame as a server sends it."""
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return bytes((first, 126)) + size.to_bytes(2, "big") + payload
    return bytes((first, 127)) + size.to_bytes(8, "big") + payload


def resp_push(channel: bytes, data: bytes) -> bytes:
    return resp_command(b"message", channel, data)


def feed_all(
    counter: LineCounter | PatternCounter | FrameCounter | AnswerCounter, parts: list[bytes]
) -> int:
    return sum(counter.feed(part) for part in parts)


def test_line_counter_counts_lines_however_split() -> None:
    """Telnet deliveries are line endings, counted the same whatever the reads were."""
    stream = b"".join(b"[lobby] <a> message %d\r\n" % i for i in range(57))
    for parts in splits(stream, 1):
        assert feed_all(LineCounter(), parts) == 57


def test_frame_counter_counts_frames_however_split() -> None:
    """WebSocket deliveries are complete data frames of every length encoding, however split."""
    payloads = [b"x" * n for n in (0, 5, 125, 126, 300, 65535, 65536, 70000)] * 3
    stream = b"".join(server_frame(p) for p in payloads)
    for parts in splits(stream, 2):
        assert feed_all(FrameCounter(), parts) == len(payloads)


def test_frame_counter_skips_control_frames_and_counts_fragmented_message_once() -> None:
    """Pings and pongs are not deliveries; a fragmented message is one delivery."""
    stream = (
        server_frame(b"ping", opcode=9)
        + server_frame(b'{"a":', opcode=1, fin=False)
        + server_frame(b"1}", opcode=0, fin=True)
        + server_frame(b"", opcode=10)
        + server_frame(b"{}")
    )
    for parts in splits(stream, 3):
        assert feed_all(FrameCounter(), parts) == 2


def test_frame_counter_walks_masked_frames() -> None:
    """A masked frame (as a client sends) is walked past its mask key."""
    stream = ws_client_frame(b"hello") + ws_client_frame(b"y" * 200)
    for parts in splits(stream, 4):
        assert feed_all(FrameCounter(), parts) == 2


def test_resp_counter_counts_message_pushes_however_split() -> None:
    """Redis deliveries are `message` pushes; subscribe replies and integers are not."""
    stream = (
        resp_command(b"subscribe", b"lobby")[:-2]
        + b":1\r\n"
        + b"".join(resp_push(b"lobby", b"payload %d" % i) for i in range(33))
    )
    for parts in splits(stream, 5):
        assert feed_all(resp_counter(), parts) == 33


def test_pattern_counter_does_not_count_a_seam_twice() -> None:
    """A pattern found across a seam is counted once, even when reads are shorter than it."""
    stream = RESP_MESSAGE * 10
    for parts in splits(stream, 6):
        assert feed_all(PatternCounter(RESP_MESSAGE), parts) == 10


def test_payload_has_the_asked_size_and_a_marker() -> None:
    """A payload is exactly `size` bytes and starts with its marker."""
    payload = make_payload(3, 42, 64, now_ns=1_700_000_000_123_456_789)
    assert len(payload) == 64
    assert payload.startswith(b"~~~~3.42.1700000000123456789~")


def test_latency_sampler_measures_markers_split_across_reads() -> None:
    """Each marker gives one latency, however the stream around it was split."""
    sent = 1_700_000_000_000_000_000
    lines = b"".join(
        b"[lobby] <guest-1> " + make_payload(0, i, 64, now_ns=sent + i) + b"\r\n" for i in range(20)
    )
    for parts in splits(lines, 7):
        sampler = LatencySampler()
        for part in parts:
            sampler.feed(part, now_ns=sent + 5_000_000)
        assert len(sampler.latencies_ns) == 20
        assert sampler.latencies_ns[0] == 5_000_000
        assert sampler.last_seq == {0: 19}


def test_latency_sampler_reads_markers_inside_json() -> None:
    """The marker is found inside a WebSocket event's JSON text."""
    sent = 1_700_000_000_000_000_000
    text = make_payload(1, 7, 64, now_ns=sent).decode()
    frame = server_frame(json.dumps({"type": "event", "text": text}).encode())
    sampler = LatencySampler()
    assert sampler.feed(frame, now_ns=sent + 1_000) == 1
    assert sampler.latencies_ns == [1_000]


def test_marker_counter_counts_bench_messages_in_frames_however_split() -> None:
    """Marker tags count bench messages, not greetings, whatever the frame length encoding."""
    greeting = server_frame(b'{"type":"welcome","motd":"hi ~ there"}')
    frames = b"".join(
        server_frame(
            json.dumps({"type": "event", "text": make_payload(0, i, size).decode()}).encode()
        )
        for i, size in enumerate([64, 200, 32_000, 32_300, 70_000] * 5)
    )
    for parts in splits(greeting + frames, 8):
        counter = marker_counter()
        assert sum(counter.feed(part) for part in parts) == 25


def test_frame_counter_keeps_each_ping_payload_however_split() -> None:
    """A ping's payload is kept whole for the answer, even when a read ends inside it."""
    stream = server_frame(b"x") + server_frame(b"ping-1234567", opcode=9) + server_frame(b"y")
    for parts in splits(stream, 9):
        counter = FrameCounter()
        assert feed_all(counter, parts) == 2
        assert counter.pings == [b"ping-1234567"]


def test_sse_events_are_counted_by_their_marker_however_split() -> None:
    """An event stream (chunked, with comments and an `id:` per event) counts one delivery per
    bench message, however the reads cut it."""
    events = b"".join(
        b"%x\r\nevent: message\nid: lobby:%d\ndata: %s\n\n\r\n"
        % (0, n, json.dumps({"text": make_payload(0, n, 64).decode()}).encode())
        for n in range(20)
    )
    stream = b": chathub event stream\n\n" + events + b": keepalive\n\n"
    for parts in splits(stream, seed=7):
        assert feed_all(marker_counter(), parts) == 20


def test_an_sse_request_and_an_http_publish_are_well_formed() -> None:
    """The GET names the room's stream; the POST carries the token, the JSON body and its
    length, so that many can follow each other on one keep-alive connection."""
    get = sse_request("127.0.0.1", 8080, "bench1")
    assert get.startswith(b"GET /api/rooms/bench1/events HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")
    assert get.endswith(b"\r\n\r\n")
    payload = make_payload(3, 9, 64)
    post = http_publish("127.0.0.1", 8080, "lobby", "chathub_secret", payload)
    head, body = post.split(b"\r\n\r\n", 1)
    assert head.startswith(b"POST /api/rooms/lobby/messages HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer chathub_secret\r\n" in head
    assert b"\r\nContent-Length: %d" % len(body) in head
    assert json.loads(body) == {"text": payload.decode()}


def test_answer_counter_tallies_created_and_refused_however_split() -> None:
    """Answers are counted by status line, a line cut across reads included."""
    answers = (
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}" * 3
        + b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n\r\n{}"
    )
    for parts in splits(answers, seed=3):
        counter = AnswerCounter()
        assert feed_all(counter, parts) == 0  # answers are not deliveries
        assert (counter.answers, counter.created) == (4, 3)


def test_an_http_publish_of_several_is_one_array() -> None:
    """`--http-batch`: the messages due together go as one JSON array."""
    payloads = [make_payload(0, n, 40) for n in range(3)]
    body = http_publish("h", 1, "lobby", "t", payloads).split(b"\r\n\r\n", 1)[1]
    assert json.loads(body) == [{"text": payload.decode()} for payload in payloads]
