#!/bin/bash
# Issue 14 benchmark: kcat (librdkafka, leader-aware) producing 2,000,000 records of 100 B to an
# 8-partition topic, acks=1, linger 2 ms, batches up to 64 KiB: one broker vs three brokers (one
# cluster, every node a voter), interleaved; each broker 2 shards. Then the time from a
# controller-leader SIGKILL to the next successful CreateTopics (fresh admin client per try).
set -u
BIN=/work/main/target/release/strata
PY=/work/main/.venv/bin/python
CL=/work/main/shards/tests/interop/cluster.py
W=/tmp/bench14; mkdir -p $W
RUNS=${RUNS:-3}
MSGS=$W/msgs
[ -f $MSGS ] || $PY -c "
import sys
line = ('x' * 99 + '\n').encode()
sys.stdout.buffer.write(line * 2000000)" > $MSGS
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # n_nodes -> sets BOOT, PIDS
  local n=$1 dir=$W/run-$RANDOM; mkdir -p $dir; PIDS=(); BOOT=""
  local q="" ports=()
  for i in $(seq 0 $((n-1))); do ports+=($(port)); done
  if [ $n -gt 1 ]; then for i in $(seq 0 $((n-1))); do q="$q${q:+,}$i@127.0.0.1:$(port)"; done; fi
  for i in $(seq 0 $((n-1))); do
    cat > $dir/n$i.toml <<T
shards = 2
io_memory_bytes_per_shard = 1048576
node_id = $i
controller_quorum = "$q"
T
    $BIN serve --config $dir/n$i.toml --data-dir $dir/d$i --listen 127.0.0.1:${ports[$i]} 2> $dir/n$i.log &
    PIDS+=($!)
    BOOT="$BOOT${BOOT:+,}127.0.0.1:${ports[$i]}"
  done
  FIRST=127.0.0.1:${ports[0]}
  for t in $(seq 1 100); do
    b=$($PY $CL describe --bootstrap $FIRST 2>/dev/null | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["brokers"]))' 2>/dev/null)
    [ "$b" = "$n" ] && break; sleep 0.2
  done
  DIR=$dir
}
stop() { kill -9 ${PIDS[@]} 2>/dev/null; wait 2>/dev/null; rm -rf $DIR; }
throughput() { # n
  start $1
  $PY $CL create --bootstrap $FIRST --topic bench --partitions 8 > /dev/null
  local t0=$(date +%s.%N)
  kcat -P -b $BOOT -t bench -l $MSGS -X linger.ms=2 -X batch.size=65536 \
    -X request.required.acks=1 -X queue.buffering.max.messages=2000000 -X queue.buffering.max.kbytes=2097151
  local t1=$(date +%s.%N)
  local got=$(kcat -C -b $BOOT -t bench -e -q -f '\n' | wc -l)
  echo "throughput brokers=$1 seconds=$(echo "$t1 - $t0" | bc) records_per_s=$(echo "2000000 / ($t1 - $t0)" | bc) read_back=$got"
  stop
}
failover() {
  start 3
  $PY $CL create --bootstrap $FIRST --topic before --partitions 3 > /dev/null
  local c=$($BIN cluster describe --json --bootstrap $FIRST | $PY -c 'import json,sys; print(json.load(sys.stdin)["controller"])')
  kill -9 ${PIDS[$c]}
  local other=$(echo $BOOT | tr , '\n' | sed -n "$(( (c + 1) % 3 + 1 ))p")
  local t0=$(date +%s.%N)
  local took=$($PY $CL create --bootstrap $other --topic after --partitions 3)
  local n=""
  for t in $(seq 1 100); do n=$($BIN cluster describe --json --bootstrap $other | $PY -c 'import json,sys; print(json.load(sys.stdin)["controller"])'); [ "$n" != "$c" ] && [ "$n" != "-1" ] && break; sleep 0.05; done
  echo "failover killed=$c new=$n seconds_to_create=$took"
  stop
}
mock() {
  local t0=$(date +%s.%N)
  kcat -P -b mock:0 -X test.mock.num.brokers=1 -t bench -l $MSGS -X linger.ms=2 -X batch.size=65536 \
    -X request.required.acks=1 -X queue.buffering.max.messages=2000000 -X queue.buffering.max.kbytes=2097151 2>/dev/null
  local t1=$(date +%s.%N)
  echo "mock seconds=$(echo "$t1 - $t0" | bc) records_per_s=$(echo "2000000 / ($t1 - $t0)" | bc)"
}
[ "${SKIP_THROUGHPUT:-}" ] || for r in $(seq 1 $RUNS); do throughput 1; throughput 3; mock; done
for r in $(seq 1 ${FAILOVERS:-5}); do failover; done
