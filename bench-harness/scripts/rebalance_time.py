#!/usr/bin/env python3
"""Rebalance time: from a group member's death (SIGKILL) to the group being Stable again,
minus the session timeout. Three librdkafka members (group_consumer.py processes) share a
topic; one is killed; the group is described every 20 ms until it is Stable with two members.

  rebalance_time.py --bootstrap HOST:PORT [--runs 3]
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from confluent_kafka.admin import AdminClient, NewTopic

SESSION_MS = 6000
HERE = os.path.dirname(os.path.abspath(__file__))
MEMBER = os.path.join(HERE, "..", "..", "shards", "tests", "interop", "group_consumer.py")


def describe(admin, group):
    d = admin.describe_consumer_groups([group])[group].result()
    return str(d.state).split(".")[-1], len(d.members)


def one_run(a, run):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    topic, group = f"rebalance-{run}-{os.getpid()}", f"rebalance-{run}-{os.getpid()}"
    for f in admin.create_topics([NewTopic(topic, 12, 1)]).values():
        f.result()
    tmp = tempfile.mkdtemp()
    stop = os.path.join(tmp, "stop")
    procs = [subprocess.Popen([sys.executable, MEMBER, "--client", "confluent", "--bootstrap", a.bootstrap,
                               "--topic", topic, "--group", group, "--out", os.path.join(tmp, f"m{i}"), "--stop", stop],
                              stderr=subprocess.DEVNULL) for i in range(3)]
    deadline = time.time() + 60
    while describe(admin, group) != ("STABLE", 3):
        if time.time() > deadline:
            sys.exit("group did not become stable with 3 members")
        time.sleep(0.05)
    time.sleep(1)
    procs[0].send_signal(signal.SIGKILL)
    killed = time.time()
    while describe(admin, group) != ("STABLE", 2):
        if time.time() > killed + 60:
            sys.exit("group did not rebalance")
        time.sleep(0.02)
    took = (time.time() - killed) * 1000
    open(stop, "w").close()
    for p in procs[1:]:
        p.wait()
    procs[0].wait()
    return took - SESSION_MS


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    results = [one_run(a, i) for i in range(a.runs)]
    for r in results:
        print(f"rebalance after death, minus the {SESSION_MS} ms session timeout: {r:.0f} ms")
    print(f"median {statistics.median(results):.0f} ms (min {min(results):.0f}, max {max(results):.0f})")


if __name__ == "__main__":
    main()
