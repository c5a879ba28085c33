"""The storm's plan and its per-socket readings (`chathub/bench/crowd.py`), without a hub."""

import socket
from pathlib import Path

from chathub.bench.conn import Endpoint
from chathub.bench.crowd import Client, StormPlan, listen_counters, retransmits


def test_a_mixed_storm_alternates_wires_and_spreads_rooms() -> None:
    """Mix is telnet, ws, telnet...; rooms go lobby, bench1, ... in turn."""
    plan = StormPlan(clients=6, transport="mix", rooms=3)
    assert [plan.wire(i) for i in range(4)] == ["telnet", "ws", "telnet", "ws"]
    assert [plan.room(i) for i in range(4)] == ["lobby", "bench1", "bench2", "lobby"]


def test_a_storm_client_asks_for_its_nick_and_room() -> None:
    """A WebSocket client connects with `?nick=stormN&rooms=ROOM`; a telnet client of the lobby
    sends nothing (the hub joins it there), of another room `/join ROOM` and leaves the lobby."""
    endpoint = Endpoint("127.0.0.1", telnet=1, web=2)
    with socket.socket() as sock:
        ws = Client(5, "ws", "bench1", sock).opening(endpoint)
        assert ws.startswith(b"GET /ws?nick=storm5&rooms=bench1 HTTP/1.1\r\n")
        assert Client(0, "telnet", "lobby", sock).opening(endpoint) == b""
        assert Client(1, "telnet", "dev", sock).opening(endpoint) == b"/join dev\r\n/part lobby\r\n"


def test_retransmits_are_read_from_the_kernel() -> None:
    """A connected loopback socket has sent nothing again."""
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        socket.create_connection(server.getsockname()) as client,
    ):
        assert retransmits(client) == 0


def test_listen_counters_are_read_from_the_tcpext_lines(tmp_path: Path) -> None:
    """ListenOverflows and ListenDrops come from the TcpExt pair of lines; no file, no counts."""
    netstat = tmp_path / "netstat"
    netstat.write_text(
        "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 1 17 25\n"
        "IpExt: InNoRoutes\nIpExt: 0\n"
    )
    assert listen_counters(str(netstat)) == {"ListenOverflows": 17, "ListenDrops": 25}
    assert listen_counters(str(tmp_path / "missing")) == {}
