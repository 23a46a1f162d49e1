#!/bin/bash
# Issue 14: strata-bench --preset throughput (8 partitions, 100 B, acks=1, 1 producer; 15 s after
# 3 s warm-up), interleaved: base (issue 13's build, one broker) / new (one broker, its own
# one-voter quorum) / new (three brokers, one cluster, every node a voter). Every broker 2 shards.
set -u
PY=/work/main/.venv/bin/python
CL=/work/main/shards/tests/interop/cluster.py
W=/tmp/bench14h; rm -rf $W; mkdir -p $W
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # bin n
  local bin=$1 n=$2 dir=$W/run-$RANDOM; mkdir -p $dir; PIDS=(); local q="" ports=()
  for i in $(seq 0 $((n-1))); do ports+=($(port)); done
  if [ $n -gt 1 ]; then for i in $(seq 0 $((n-1))); do q="$q${q:+,}$i@127.0.0.1:$(port)"; done; fi
  for i in $(seq 0 $((n-1))); do
    if [ -n "$q" ]; then printf 'shards = 2\nnode_id = %s\ncontroller_quorum = "%s"\n' $i "$q" > $dir/n$i.toml
    else printf 'shards = 2\n' > $dir/n$i.toml; fi
    $bin/strata serve --config $dir/n$i.toml --data-dir $dir/d$i --listen 127.0.0.1:${ports[$i]} 2> $dir/n$i.log &
    PIDS+=($!)
  done
  FIRST=127.0.0.1:${ports[0]}
  for t in $(seq 1 100); do grep -q "strata is serving" $dir/n0.log && break; sleep 0.1; done
  if [ $n -gt 1 ]; then for t in $(seq 1 100); do
    b=$($PY $CL describe --bootstrap $FIRST 2>/dev/null | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["brokers"]))' 2>/dev/null)
    [ "$b" = "$n" ] && break; sleep 0.2; done; fi
  DIR=$dir
}
stop() { kill -TERM ${PIDS[@]} 2>/dev/null; wait 2>/dev/null; rm -rf $DIR; }
one() { # label bin n run
  start $2 $3
  $2/strata-bench run --preset throughput --bootstrap $FIRST --set duration_s=15 --set warmup_s=3 --out $W/$1-$4 > $W/$1-$4.log 2>&1
  stop
  r=$($PY -c "import json;s=json.load(open('$W/$1-$4/summary.json'));print(round(s['produced_records_per_s']), s['errors'])" 2>/dev/null)
  echo "$1 run $4: $r (records/s, errors)"
}
for run in 1 2 3; do
  one base-1 /tmp/bin-fix 1 $run
  one new-1 /tmp/bin-i14 1 $run
  one new-3 /tmp/bin-i14 3 $run
done
