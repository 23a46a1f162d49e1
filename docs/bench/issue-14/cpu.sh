#!/bin/bash
# Where the CPU goes: one throughput run (15 s + 3 s warm-up) against one broker and against
# three, with each broker process's CPU seconds (user+sys) and involuntary context switches,
# and the load generator's, read from /proc and /usr/bin/time.
set -u
source <(sed -n '/^PY=/,/^stop()/p' /work/bench14/bench-harness.sh)
W=/tmp/bench14cpu; rm -rf $W; mkdir -p $W
TCK=$(getconf CLK_TCK)
cpu() { awk -v t=$TCK '{printf "%.1f", ($14+$15)/t}' /proc/$1/stat; }
ics() { grep nonvoluntary_ctxt_switches /proc/$1/status | awk '{print $2}'; }
for n in 1 3 1 3; do
  start /tmp/bin-i14 $n
  /usr/bin/time -f "bench cpu_s=%U+%S invol_cs=%c" /tmp/bin-i14/strata-bench run --preset throughput --bootstrap $FIRST --set duration_s=15 --set warmup_s=3 --out $W/r$n-$RANDOM > $W/log 2> $W/time
  line="brokers=$n rate=$(grep -o 'produced_records_per_s[^,]*' $W/r$n-*/summary.json | tail -1)"
  for p in ${PIDS[@]}; do line="$line | broker cpu_s=$(cpu $p) invol_cs=$(ics $p)"; done
  echo "$line | $(tail -1 $W/time)"
  stop; rm -rf $W/r$n-*
done
