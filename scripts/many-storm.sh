#!/bin/bash
# 50,000 telnet connections held across chathub workers on one machine, each process capped
# at 20,000 descriptors (README, "Many processes" under Performance). A redis-server on a free
# loopback port, `chathub --workers W --redis ...` under `ulimit -n 20000`, and B storm
# benches (one bench process cannot hold more than its own 20,000 descriptors either), each
# opening N clients into 1,000 rooms from 16 loopback addresses, 250 connecting at once (the
# hub's backlog is 1,024), holding them until all have joined and one message went round.
# Every 5 s: the RSS of the hub's processes and redis-server, and each worker's descriptors.
#
#   scripts/many-storm.sh [WORKERS=4] [BENCHES=3] [CLIENTS_PER_BENCH=16700]
set -eu
WORKERS=${1:-4}; BENCHES=${2:-3}; CLIENTS=${3:-16700}
PY=${PYTHON:-python3}
OUT=$(mktemp -d /tmp/many-storm.XXXXXX)
cd "$OUT"
PORT=$($PY -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --maxclients 100000 \
  > redis.log 2>&1 &
REDIS=$!
sleep 1
ulimit -n 20000
$PY -m chathub --workers "$WORKERS" --redis "redis://127.0.0.1:$PORT/0" --db :memory: \
  --telnet tcp:0:interface=127.0.0.1:backlog=1024 --web tcp:0:interface=127.0.0.1:backlog=1024 \
  --admin none --max-rate 0 --max-per-ip 0 --max-connections 0 --paste-window 0 \
  --ports-file "$OUT/ports.json" > hub.log 2>&1 &
HUB=$!
while [ ! -s "$OUT/ports.json" ]; do sleep 0.5; done
TELNET=$($PY -c "import json;print(json.load(open('$OUT/ports.json'))['telnet'])")
WEB=$($PY -c "import json;print(json.load(open('$OUT/ports.json'))['web'])")
$PY - "$HUB" "$REDIS" > samples.log <<'SAMPLE' &
import os, sys, time
from pathlib import Path
hub, redis = int(sys.argv[1]), int(sys.argv[2])
def family(pid):
    found, at = [pid], 0
    while at < len(found):
        try:
            for task in Path(f"/proc/{found[at]}/task").iterdir():
                found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
        at += 1
    return found
def rss(pid):
    try:
        return next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0
def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0
while True:
    workers = [p for p in family(hub) if p != hub]
    every = [hub, redis, *workers]
    print(time.strftime("%H:%M:%S"), "rss_kib", sum(rss(p) for p in every), "redis_kib",
          rss(redis), "fds", [fds(p) for p in workers], flush=True)
    time.sleep(5)
SAMPLE
SAMPLER=$!
BENCHES_PIDS=()
for i in $(seq "$BENCHES"); do
  $PY -m chathub bench --telnet-port "$TELNET" --web-port "$WEB" --pid "$HUB" --storm \
    -n "$CLIENTS" --transport telnet --rooms 1000 --source-ips 16 --storm-window 250 \
    --storm-timeout 500 --then-say 1 --say-after 30 --json > "storm$i.json" 2> "storm$i.err" &
  BENCHES_PIDS+=($!)
  sleep 1
done
wait "${BENCHES_PIDS[@]}"
kill "$SAMPLER"; kill "$HUB"; sleep 8; kill "$REDIS"
echo "results in $OUT: samples.log (the peak is where the descriptors add up), storm*.json"
