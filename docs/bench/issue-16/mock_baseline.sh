#!/bin/bash
# Interleaved: librdkafka's mock broker (no disk, nothing done) vs strata, latency preset at
# 200k rec/s, 4 partitions (the mock's auto-created count), 10 s after 2 s warm-up.
HERE=$(cd "$(dirname "$0")" && pwd)
W=${W:-/tmp/mockcmp}; rm -rf $W; mkdir -p $W
B=${BIN:-/work/main/target/release}
summary() { python3 -c "
import json,sys;s=json.load(open('$W/$1/summary.json'));p,e=s['produce_latency_us'],s['e2e_latency_us']
f=lambda h:' '.join(f'{k}={h[k]/1000:.2f}' for k in ('p50','p99','p999','max'))
print('$1', int(s['produced_records_per_s']), 'errors', s['errors'], '| produce ms', f(p), '| e2e ms', f(e))"; }
for r in 1 2 3; do
  /work/main/.venv/bin/python $HERE/mock_broker.py 30 bench-latency > $W/addr 2>/dev/null &
  mp=$!; sleep 4
  $B/strata-bench run --bootstrap $(cat $W/addr) --out $W/mock-$r --preset latency --set rate=200000 --set partitions=4 --set duration_s=10 --set warmup_s=2 > /dev/null 2>&1
  kill $mp; wait $mp 2>/dev/null
  summary mock-$r
  BIN=$B $HERE/one.sh $W/strata-$r --preset latency --set rate=200000 --set partitions=4 --set duration_s=10 --set warmup_s=2 > /dev/null
  summary strata-$r
done
