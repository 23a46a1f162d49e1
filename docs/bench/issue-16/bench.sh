#!/bin/bash
# Issue 16: latency before and after, one session, interleaved (A B A B ...). A fresh single
# broker per run (2 shards pinned to cores 0 and 1, defaults), the generator unpinned beside it.
#   OLD=path/to/old/strata  NEW=path/to/new/strata  RUNS=3  W=/tmp/bench16  bench.sh
# 1. throughput (closed loop, 100 B, acks=1) old/new: the rate for 2 is half of new's median.
# 2. latency preset (1 producer + 1 consumer, linger 0.5 ms, 32 requests in flight) at that
#    rate and at 200k records/s, old/new.
# 3. durable (acks=-1, 1 KiB): closed-loop peak of new, then open loop at half of it, old/new.
# 4. kcat, 5,000,000 x 100 B, acks=1, 5 runs each: new, old and librdkafka's mock broker.
# Each strata-bench run: 15 s measured after 3 s of warm-up. Results: $W/results.txt.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
OLD=${OLD:?old strata binary}; NEW=${NEW:?new strata binary}
RUNS=${RUNS:-3}; W=${W:-/tmp/bench16}; rm -rf $W; mkdir -p $W
R=$W/results.txt
BENCH=${BENCH:-/work/main/target/release/strata-bench}
one() { # label binary preset [--set ...]
  local label=$1 bin=$2 preset=$3; shift 3
  BIN=$(dirname $bin) $HERE/one.sh $W/$label --preset $preset --set duration_s=15 --set warmup_s=3 "$@" > /dev/null
  python3 - $W/$label "$label" >> $R <<'PY'
import json,sys
s=json.load(open(sys.argv[1]+"/summary.json"))
p,e=s["produce_latency_us"],s["e2e_latency_us"]
f=lambda h:" ".join(f"{k}={h[k]/1000:.2f}" for k in ("p50","p99","p999","p9999","max"))
print(f"{sys.argv[2]}: {s['produced_records_per_s']:.0f} rec/s errors={s['errors']} | produce ms {f(p)} | e2e ms {f(e) if e['count'] else '-'}")
PY
  tail -1 $R
}
rate_of() { python3 -c "import json,sys,statistics; print(int(statistics.median(json.load(open(f'$W/{l}/summary.json'))['produced_records_per_s'] for l in sys.argv[1:])))" "$@"; }
BENCH_BIN=$(dirname $BENCH)
# one.sh takes the generator from BIN too: give both binaries' directory a strata-bench.
for b in $OLD $NEW; do [ -x $(dirname $b)/strata-bench ] || ln -sf $BENCH $(dirname $b)/strata-bench; done

echo "# throughput" >> $R
for r in $(seq 1 $RUNS); do one tp-old-$r $OLD throughput; one tp-new-$r $NEW throughput; done
RATE=$(( $(rate_of $(for r in $(seq 1 $RUNS); do echo tp-new-$r; done)) / 2 ))
echo "# latency at $RATE (half of new's throughput median) and at 200000" >> $R
for r in $(seq 1 $RUNS); do
  one lat-old-$r $OLD latency --set rate=$RATE; one lat-new-$r $NEW latency --set rate=$RATE
  one lat200k-old-$r $OLD latency --set rate=200000; one lat200k-new-$r $NEW latency --set rate=200000
done
echo "# durable peak (new, closed loop)" >> $R
for r in $(seq 1 $RUNS); do one durable-peak-$r $NEW durable; done
DRATE=$(( $(rate_of $(for r in $(seq 1 $RUNS); do echo durable-peak-$r; done)) / 2 ))
echo "# durable at $DRATE (half its peak), open loop" >> $R
for r in $(seq 1 $RUNS); do
  one durable-old-$r $OLD durable --set rate=$DRATE; one durable-new-$r $NEW durable --set rate=$DRATE
done

echo "# kcat 5,000,000 x 100 B, acks=1, 8 partitions (seconds)" >> $R
seq 1 5000000 | sed 's/$/ 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567/' | cut -c1-100 > $W/lines.txt
kcat_run() { # label binary|mock
  local label=$1 bin=$2 t0 t1 dir port pid
  if [ $bin = mock ]; then
    t0=$(date +%s.%N); kcat -b mock:9092 -X test.mock.num.brokers=1 -P -t k -l -X acks=1 -X linger.ms=5 $W/lines.txt 2>/dev/null; t1=$(date +%s.%N)
  else
    dir=$(mktemp -d /tmp/strata16k.XXXXXX)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    printf 'default_partitions = 8\n' > $dir/c.toml
    $bin serve --config $dir/c.toml --data-dir $dir/data --listen 127.0.0.1:$port 2> $dir/log &
    pid=$!
    for i in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    t0=$(date +%s.%N); kcat -b 127.0.0.1:$port -P -t k -l -X acks=1 -X linger.ms=5 $W/lines.txt; t1=$(date +%s.%N)
    kill -TERM $pid; wait $pid 2>/dev/null; rm -rf $dir
  fi
  echo "$label: $(python3 -c "print(f'{$t1-$t0:.2f}')") s" >> $R; tail -1 $R
}
for r in 1 2 3 4 5; do kcat_run kcat-new-$r $NEW; kcat_run kcat-mock-$r mock; kcat_run kcat-old-$r $OLD; done
echo "# set-up: commit $(git -C /work/main rev-parse --short HEAD), $(date -u +%FT%TZ), $(nproc) cores" >> $R
