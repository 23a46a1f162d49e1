#!/usr/bin/env python3
"""Turns a broker's --latency-report lines into a table: each stage's p50 / p99 / p99.9 / max
(ms) on each shard, from the last report each shard printed. Usage: breakdown.py BROKER_LOG"""
import re, sys

last = {}
for line in open(sys.argv[1]):
    m = re.search(r"latency-report shard=(\d+) stage=(\S+) count=(\d+) p50_us=(\d+) p90_us=(\d+) p99_us=(\d+) p999_us=(\d+) max_us=(\d+)", line)
    if m:
        shard, stage = int(m[1]), m[2]
        last[(stage, shard)] = [int(m[i]) for i in (3, 4, 6, 7, 8)]
stages = sorted({s for s, _ in last})
shards = sorted({sh for _, sh in last})
print("| stage | " + " | ".join(f"shard {s}: count, p50 / p99 / p99.9 / max (ms)" for s in shards) + " |")
print("|---|" + "---|" * len(shards))
for st in stages:
    cells = []
    for sh in shards:
        v = last.get((st, sh))
        cells.append("" if v is None else f"{v[0]}, {v[1]/1000:.2f} / {v[2]/1000:.2f} / {v[3]/1000:.2f} / {v[4]/1000:.2f}")
    print(f"| `{st}` | " + " | ".join(cells) + " |")
