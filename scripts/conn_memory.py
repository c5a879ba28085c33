"""What one idle connection costs a hub, object by object: for the owner who wants to cut it.

    PYTHONPATH=. python scripts/conn_memory.py --kind telnet -n 1000
    PYTHONPATH=. python scripts/conn_memory.py --kind ws -n 1000 --json out.json

How: the script starts a hub (this tree's `python -m chathub`, in memory, no limits) in a child
process that answers two signals. It opens `--warm` connections of the kind first (so caches
and first-time allocations are not counted), signals SIGUSR1 (the hub starts tracing
allocations, `tracemalloc` with 30 frames), opens `-n` more into the lobby and reads everything
they are sent, waits until they are quiet, and signals SIGUSR2: the hub takes a snapshot of
what was allocated since and is still alive, and writes a report to a file, which this script
prints.

The report has two views of one idle connection:
- Allocation sites: what is still allocated of what the `-n` connections allocated, divided
  by `-n`, each allocation
  charged to the innermost frame of chathub, Twisted, Autobahn or txaio that made it (stdlib
  frames such as `collections` or `json` say where, not why), largest first. It includes what
  the connection adds to shared tables (the reactor's selectables, the hub's sessions and
  members, a room's dict) and the kernel-facing objects (socket, transport).
- Objects: the objects reachable from one connection's protocol object and not from another
  connection's (so the hub, factory, reactor, classes and modules are left out), each with its
  path from the protocol (`.stream.outbox`, `.http_headers['host']`) and `sys.getsizeof`,
  largest first; an instance's `__dict__` is listed as its own row.

Memory the kernel holds (socket buffers) and malloc's overhead and fragmentation are in neither
view: compare with RSS per connection (`chathub bench --duration 0`).
"""

import argparse
import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
import types
from collections import Counter
from pathlib import Path
from typing import Any

FRAMES = 30
PACKAGES = ("/chathub/", "/twisted/", "/autobahn/", "/txaio/")


# --- inside the hub -------------------------------------------------------------------------


def _charged_frame(trace: tracemalloc.Traceback) -> str:
    """The innermost frame of our packages in `trace` (tracemalloc lists the oldest first)."""
    for frame in reversed(trace):
        if any(part in frame.filename for part in PACKAGES):
            return f"{frame.filename}:{frame.lineno}"
    frame = trace[-1]
    return f"{frame.filename}:{frame.lineno}"


def _source(where: str) -> str:
    path, _, line = where.rpartition(":")
    try:
        return Path(path).read_text().splitlines()[int(line) - 1].strip()
    except (OSError, IndexError, ValueError):
        return ""


def _short(where: str) -> str:
    for part in PACKAGES:
        if part in where:
            return part.strip("/") + "/" + where.split(part, 1)[1]
    return where.rsplit("/", 2)[-1] if "/" in where else where


def allocation_sites(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, count: int
) -> list[dict[str, Any]]:
    sizes: Counter[str] = Counter()
    blocks: Counter[str] = Counter()
    for stat in after.compare_to(before, "traceback"):
        where = _charged_frame(stat.traceback)
        sizes[where] += stat.size_diff
        blocks[where] += stat.count_diff
    rows = []
    for where, size in sizes.most_common():
        if size / count < 8:
            continue
        rows.append(
            {
                "where": _short(where),
                "bytes": round(size / count, 1),
                "blocks": round(blocks[where] / count, 2),
                "source": _source(where),
            }
        )
    return rows


_STOP_TYPES = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.CodeType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
)


def _children(obj: Any) -> list[tuple[str, Any]]:
    """`obj`'s referents, each with a label for its path."""
    if isinstance(obj, dict):
        out: list[tuple[str, Any]] = []
        for key, value in obj.items():
            out.append((f"[{key!r}]"[:60], value))
            if not isinstance(key, str):
                out.append(("<key>", key))
        return out
    if isinstance(obj, list | tuple):
        return [(f"[{i}]", value) for i, value in enumerate(obj)]
    children: list[tuple[str, Any]] = []
    if isinstance(obj, types.MethodType):
        return [(".__self__", obj.__self__)]
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        # The attributes by name first (the shortest path names them), then the dict itself.
        children += [(f".{name}", value) for name, value in attrs.items()]
        children.append((".__dict__", attrs))
    for slot in getattr(type(obj), "__slots__", ()) or ():
        if isinstance(slot, str) and hasattr(obj, slot):
            children.append((f".{slot}", getattr(obj, slot)))
    seen = {id(child) for _, child in children}
    if isinstance(attrs, dict):
        seen |= {id(value) for value in attrs.values()}
    for child in gc.get_referents(obj):
        if id(child) not in seen and child is not attrs:
            children.append((f"<{type(child).__name__}>", child))
    return children


def _reach(root: Any, stop: set[int]) -> dict[int, tuple[str, Any]]:
    """Every object reachable from `root` without passing `stop` or shared kinds, by id,
    with the shortest path to it."""
    found: dict[int, tuple[str, Any]] = {id(root): ("", root)}
    queue = [root]
    while queue:
        following = []
        for obj in queue:
            path = found[id(obj)][0]
            for label, child in _children(obj):
                key = id(child)
                if key in found or key in stop or isinstance(child, _STOP_TYPES):
                    continue
                if child is None or (isinstance(child, bool | int | float) and -5 <= child <= 256):
                    continue
                name = path + (label if label.startswith(("[", ".")) else f".{label}")
                if label == ".__dict__":
                    name = path + ".__dict__"
                found[key] = (name, child)
                following.append(child)
        queue = following
    return found


def exclusive_objects(kind: str) -> list[dict[str, Any]]:
    """What one connection's protocol reaches that another's does not (see the docstring)."""
    wanted = "LineConnection" if kind == "telnet" else "WebSocketConnection"
    protocols = [obj for obj in gc.get_objects() if type(obj).__name__ == wanted]
    if len(protocols) < 3:
        return []
    one, other = protocols[-1], protocols[-2]
    # Shared: the hub, the factory and the reactor are not the connection's own, nor is any
    # other connection (the reactor and the hub reach every one of them).
    stream = getattr(one, "stream", None)
    shared = [getattr(one, "factory", None), getattr(stream, "hub", None)]
    shared.append(getattr(getattr(one, "transport", None), "reactor", None))
    shared_ids = {id(root) for root in shared if root is not None} | {id(protocols)}
    connection_ids = {id(p) for p in protocols} | {
        id(getattr(p, "transport", p)) for p in protocols
    }

    def own(protocol: Any) -> set[int]:
        return {id(protocol), id(getattr(protocol, "transport", protocol))}

    mine = _reach(one, shared_ids | (connection_ids - own(one)))
    theirs = _reach(other, shared_ids | (connection_ids - own(other)))
    rows = []
    for key, (path, obj) in mine.items():
        if key in theirs:
            continue
        rows.append(
            {
                "path": path or "(the protocol)",
                "type": type(obj).__name__,
                "bytes": sys.getsizeof(obj),
            }
        )
    rows.sort(key=lambda row: -row["bytes"])
    return rows


def serve(report_path: str, kind: str, count: int, hub_args: list[str]) -> None:
    """Run the hub; SIGUSR1 starts tracing, SIGUSR2 writes the report (each says when done)."""

    def begin(signum: int, frame: object) -> None:
        gc.collect()
        tracemalloc.start(FRAMES)  # only what is allocated from now on is traced
        Path(report_path + ".tracing").touch()

    def end(signum: int, frame: object) -> None:
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        tracemalloc.stop()
        empty = snapshot.filter_traces([tracemalloc.Filter(True, "(none)")])
        traced = snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        sites = allocation_sites(empty, traced, count)
        total = sum(trace.size for trace in traced.traces) / count
        report = {
            "kind": kind,
            "connections": count,
            "traced_bytes_per_connection": round(total),
            "sites": sites,
            "objects": exclusive_objects(kind),
        }
        Path(report_path).write_text(json.dumps(report, indent=1))

    signal.signal(signal.SIGUSR1, begin)
    signal.signal(signal.SIGUSR2, end)
    from chathub.cli import main

    main(hub_args)


# --- the driver -------------------------------------------------------------------------------


def _handshake(host: str, port: int) -> bytes:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    return (
        f"GET /ws?rooms=lobby HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


# An unsolicited pong (RFC 6455 5.5.3), masked as a client must: the hub answers nothing, and
# it restarts the hub's keepalive timer, so a connection that does not parse frames is not
# dropped for a ping it never answered (tracing makes the hub slow, and opening takes a while).
PONG = bytes((0x8A, 0x80)) + b"\0\0\0\0"
KEEPALIVE_SECONDS = 10.0


def open_idle(kind: str, port: int, count: int, keep: list[socket.socket]) -> None:
    """Open `count` connections, read what they are sent until all are quiet, keep them."""
    last_pong = [time.monotonic()]

    def keepalive() -> None:
        if kind == "ws" and time.monotonic() - last_pong[0] > KEEPALIVE_SECONDS:
            last_pong[0] = time.monotonic()
            for sock in keep:
                sock.send(PONG)

    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        if kind == "ws":
            sock.sendall(_handshake("127.0.0.1", port))
        sock.setblocking(False)
        keep.append(sock)
        keepalive()
    poller = select.epoll()
    by_fd = {sock.fileno(): sock for sock in keep}
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 1.0:
        keepalive()
        for fd, _ in poller.poll(0.1):
            try:
                if by_fd[fd].recv(1 << 16):
                    quiet_since = time.monotonic()
            except BlockingIOError:
                pass
    poller.close()
    last_pong[0] = 0.0
    keepalive()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=("telnet", "ws"), default="telnet")
    parser.add_argument("-n", type=int, default=1000, help="connections measured")
    parser.add_argument("--warm", type=int, default=50, help="connections opened before")
    parser.add_argument("--json", help="also write the report here")
    parser.add_argument("--top", type=int, default=25, help="rows shown of each view")
    parser.add_argument("--serve", nargs=2, metavar=("REPORT", "COUNT"), help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.serve:
        serve(args.serve[0], args.kind, int(args.serve[1]), rest)
        return 0
    scratch = Path(tempfile.mkdtemp(prefix="conn-memory-"))
    ports_file, report_file = scratch / "ports.json", scratch / "report.json"
    hub_args = ["--db", ":memory:", "--ports-file", str(ports_file)]
    hub_args += ["--telnet", "tcp:0:interface=127.0.0.1:backlog=1024"]
    hub_args += ["--web", "tcp:0:interface=127.0.0.1:backlog=1024"]
    hub_args += ["--max-rate", "0", "--max-per-ip", "0", "--max-connections", "0"]
    command = [sys.executable, __file__, "--kind", args.kind]
    command += ["--serve", str(report_file), str(args.n), *hub_args]
    with open(scratch / "hub.log", "wb") as log:
        hub = subprocess.Popen(command, stdout=log, stderr=log, env=os.environ.copy())
    keep: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 300  # tracing every allocation makes start-up slow
        while not ports_file.exists():
            if hub.poll() is not None or time.monotonic() > deadline:
                print("the hub did not start:", file=sys.stderr)
                print((scratch / "hub.log").read_text()[-2000:], file=sys.stderr)
                return 1
            time.sleep(0.05)
        ports = json.loads(ports_file.read_text())
        port = ports["telnet"] if args.kind == "telnet" else ports["web"]
        open_idle(args.kind, port, args.warm, keep)
        hub.send_signal(signal.SIGUSR1)
        tracing = Path(str(report_file) + ".tracing")
        while not tracing.exists() and hub.poll() is None:
            time.sleep(0.05)
        open_idle(args.kind, port, args.n, keep)
        hub.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 120
        while not report_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        report = json.loads(report_file.read_text())
    finally:
        for sock in keep:
            sock.close()
        hub.terminate()
        hub.wait(10)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    print(f"{args.kind}: {report['traced_bytes_per_connection']} B traced per idle connection")
    print("allocation sites (bytes per connection, largest first):")
    for row in report["sites"][: args.top]:
        print(
            f"  {row['bytes']:8.0f} B {row['blocks']:6.2f} blocks  {row['where']}: {row['source']}"
        )
    objects = report["objects"]
    print(f"objects of one connection ({len(objects)}, {sum(r['bytes'] for r in objects)} B):")
    for row in objects[: args.top]:
        print(f"  {row['bytes']:6d} B  {row['type']:<22} {row['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
