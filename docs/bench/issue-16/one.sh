#!/bin/bash
# One strata-bench run against a fresh single broker (defaults: 2 shards pinned to cores 0-1),
# stopped afterwards. Usage: one.sh OUT_DIR [strata-bench args...]; BROKER_ARGS adds serve flags,
# DATA_ROOT is where the data directory goes (default /tmp).
set -u
BIN=${BIN:-/work/main/target/release}
out=$1; shift; mkdir -p "$(dirname "$out")"
dir=$(mktemp -d ${DATA_ROOT:-/tmp}/strata16.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$BIN/strata serve --data-dir $dir/data --listen 127.0.0.1:$port ${BROKER_ARGS:-} 2> $dir/broker.log &
pid=$!
for i in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
$BIN/strata-bench run --bootstrap 127.0.0.1:$port --out $out "$@" > $out.log 2>&1
kill -TERM $pid; wait $pid 2>/dev/null
cp $dir/broker.log $out.broker.log 2>/dev/null
rm -rf $dir
python3 - "$out" <<'PY'
import json,sys
s=json.load(open(sys.argv[1]+"/summary.json"))
def g(k): 
    v=s
    for p in k.split('.'):
        v=v.get(p,{}) if isinstance(v,dict) else {}
    return v
print(sys.argv[1], json.dumps({k:v for k,v in s.items() if k not in ("params",)})[:900])
PY
