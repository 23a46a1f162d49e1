#!/bin/bash
# Issue 15: replication's cost, measured in one session, interleaved. Three brokers (one
# cluster, every node a voter, 2 shards each) on this 2-core machine; strata-bench against a
# topic created beforehand with replication factor 1 or 3 (8 partitions):
#   throughput (100 B, acks=1 at RF=1)  vs  throughput with acks=-1 at RF=3
#   durable (1 KiB, acks=-1) at RF=1    vs  durable at RF=3
# 15 s after 3 s warm-up each; RUNS rounds (default 3). Raw results in $W.
# With LAT_RATE=N instead: the latency preset at N records/s (half the RF=3 acks=all median),
# RF=3, acks=-1.
set -u
BIN=${BIN:-/work/main/target/release}
PY=/work/main/.venv/bin/python
CL=/work/main/shards/tests/interop/cluster.py
W=${W:-/tmp/bench15}; rm -rf $W; mkdir -p $W
RUNS=${RUNS:-3}
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # -> FIRST, PIDS, DIR
  local dir=$W/run-$RANDOM; mkdir -p $dir; PIDS=(); local q="" ports=()
  for i in 0 1 2; do ports+=($(port)); done
  for i in 0 1 2; do q="$q${q:+,}$i@127.0.0.1:$(port)"; done
  for i in 0 1 2; do
    printf 'shards = 2\nio_memory_bytes_per_shard = 1048576\nnode_id = %s\ncontroller_quorum = "%s"\n' $i "$q" > $dir/n$i.toml
    $BIN/strata serve --config $dir/n$i.toml --data-dir $dir/d$i --listen 127.0.0.1:${ports[$i]} 2> $dir/n$i.log &
    PIDS+=($!)
  done
  FIRST=127.0.0.1:${ports[0]}
  for t in $(seq 1 100); do
    b=$($PY $CL describe --bootstrap $FIRST 2>/dev/null | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["brokers"]))' 2>/dev/null)
    [ "$b" = "3" ] && break; sleep 0.2
  done
  DIR=$dir
}
stop() { kill -TERM ${PIDS[@]} 2>/dev/null; wait 2>/dev/null; rm -rf $DIR; }
one() { # label preset rf run [--set ...]
  local label=$1 preset=$2 rf=$3 run=$4; shift 4
  start
  $PY $CL create --bootstrap $FIRST --topic bench-$preset --partitions 8 --replication-factor $rf > /dev/null
  $BIN/strata-bench run --preset $preset --bootstrap $FIRST --set duration_s=15 --set warmup_s=3 "$@" --out $W/$label-$run > $W/$label-$run.log 2>&1
  stop
  r=$($PY -c "import json;s=json.load(open('$W/$label-$run/summary.json'));print(round(s['produced_records_per_s']), s['errors'])" 2>/dev/null)
  echo "$label run $run: $r (records/s, errors)"
}
[ -z "${LAT_RATE:-}" ] && for run in $(seq 1 $RUNS); do
  one throughput-rf1 throughput 1 $run
  one throughput-rf3-acksall throughput 3 $run --set acks=-1
  one durable-rf1 durable 1 $run
  one durable-rf3 durable 3 $run
done
# End-to-end latency at half of the RF=3 acks=all median (LAT_RATE), RF=3, acks=-1.
if [ -n "${LAT_RATE:-}" ]; then
  for run in $(seq 1 $RUNS); do
    start
    # Every partition led by node 0 (the harness's consumers read from one broker), replicas on all.
    $PY -c "
from kafka.admin import KafkaAdminClient, NewTopic
a = KafkaAdminClient(bootstrap_servers='$FIRST')
a.create_topics([NewTopic('bench-latency', replica_assignments={p: [0, 1, 2] for p in range(8)})])"
    sleep 2
    $BIN/strata-bench run --preset latency --bootstrap $FIRST --set duration_s=15 --set warmup_s=3 --set acks=-1 --set rate=$LAT_RATE --out $W/latency-$run > $W/latency-$run.log 2>&1
    stop
    $PY -c "import json;s=json.load(open('$W/latency-$run/summary.json'));print('latency run $run:', round(s['produced_records_per_s']), 'e2e us', s['e2e_latency_us'], 'produce us', s['produce_latency_us'])"
  done
fi
