#!/usr/bin/env python3
"""Issue 15: failover time. Three brokers (one cluster, loopback ports), a topic of one
partition with 3 replicas, a confluent-kafka producer (acks=all, idempotent, linger 0) sending
one record every millisecond. Each round SIGKILLs the partition's leader and measures the time
from the kill to the first acknowledgement that arrives after it (the old leader is dead, so it
comes from the new one); then the killed broker is restarted and the ISR waited for.

With --signal term the leader is stopped with SIGTERM (controlled shutdown), and with
--signal alternate the rounds alternate SIGKILL and SIGTERM, so that both are measured in one
session. For every round it also reports the longest gap between two acknowledgements from the
signal through the first acknowledgement half a second after the old leader's process has
exited: the longest the producer waited.

  failover.py --strata target/release/strata [--rounds 10] [--session-ms 9000]
              [--signal kill|term|alternate]
"""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--strata", required=True)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--session-ms", type=int, default=9000)
    ap.add_argument("--signal", choices=["kill", "term", "alternate"], default="kill")
    a = ap.parse_args()
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    root = tempfile.mkdtemp(prefix="failover-")
    ports = [free_port() for _ in range(3)]
    quorum = ",".join(f"{i}@127.0.0.1:{free_port()}" for i in range(3))
    configs = []
    for i in range(3):
        path = os.path.join(root, f"n{i}.toml")
        with open(path, "w") as f:
            f.write(f'node_id = {i}\nlisten = "127.0.0.1:{ports[i]}"\n'
                    f'data_dir = "{root}/d{i}"\ncontroller_quorum = "{quorum}"\nshards = 2\n'
                    f"broker_heartbeat_interval_ms = {max(100, a.session_ms // 8)}\n"
                    f"broker_session_timeout_ms = {a.session_ms}\n"
                    "io_memory_bytes_per_shard = 1048576\n")
        configs.append(path)
    procs = [None] * 3

    def start(i):
        procs[i] = subprocess.Popen([a.strata, "serve", "--config", configs[i]],
                                    stdout=open(f"{root}/n{i}.log", "a"),
                                    stderr=subprocess.STDOUT)

    for i in range(3):
        start(i)
    boot = ",".join(f"127.0.0.1:{p}" for p in ports)
    admin = AdminClient({"bootstrap.servers": boot})
    for _ in range(100):
        try:
            admin.create_topics([NewTopic("fo", 1, 3)])["fo"].result(10)
            break
        except Exception:
            time.sleep(0.3)

    def leader_and_isr():
        md = AdminClient({"bootstrap.servers": boot}).list_topics("fo", timeout=5)
        p = md.topics["fo"].partitions[0]
        return p.leader, len(p.isrs)

    acks = []
    lock = threading.Lock()
    stop = threading.Event()

    def produce():
        p = Producer({"bootstrap.servers": boot, "acks": "all", "enable.idempotence": True,
                      "linger.ms": 0, "retry.backoff.ms": 20,
                      "topic.metadata.refresh.interval.ms": 1000})

        def done(err, msg):
            if err is None:
                with lock:
                    acks.append(time.monotonic())
        while not stop.is_set():
            try:
                p.produce("fo", b"x" * 100, partition=0, on_delivery=done)
            except BufferError:
                pass
            p.poll(0.001)
        p.flush(30)

    t = threading.Thread(target=produce)
    t.start()
    times = []
    gaps = {"kill": [], "term": []}
    try:
        for r in range(a.rounds):
            while True:
                try:
                    leader, isr = leader_and_isr()
                    if leader >= 0 and isr == 3:
                        break
                except Exception:
                    pass
                time.sleep(0.2)
            time.sleep(1.0)
            how = a.signal if a.signal != "alternate" else ("kill", "term")[r % 2]
            killed_at = time.monotonic()
            procs[leader].send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
            procs[leader].wait()
            exited = time.monotonic()
            while True:
                with lock:
                    after = [x for x in acks if x > killed_at + 0.005]
                if after:
                    break
                time.sleep(0.001)
            took = after[0] - killed_at
            times.append(took)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with lock:
                    if acks and acks[-1] > exited + 0.5:
                        break
                time.sleep(0.01)
            with lock:
                # Through the first acknowledgement half a second after the exit (for a kill,
                # that one ends the failover's gap).
                end = next((x for x in acks if x > exited + 0.5), exited + 0.5)
                window = [killed_at] + [x for x in acks if killed_at < x <= end]
            gap = max((b - x for x, b in zip(window, window[1:])), default=float("nan"))
            gaps[how].append(gap)
            print(f"round {r + 1}: leader {leader} SIG{how.upper()}; first acknowledgement after "
                  f"{took:.3f} s; exited after {exited - killed_at:.3f} s; longest gap "
                  f"{gap:.3f} s", flush=True)
            start(leader)
    finally:
        stop.set()
        t.join()
        for p in procs:
            if p and p.poll() is None:
                p.kill()
    times.sort()
    print(f"first acknowledgement after the signal (session {a.session_ms} ms): median "
          f"{statistics.median(times):.3f} s, min {times[0]:.3f}, max {times[-1]:.3f}, "
          f"n {len(times)}")
    for how, g in gaps.items():
        if g:
            g.sort()
            print(f"longest gap, SIG{how.upper()}: median {statistics.median(g):.3f} s, "
                  f"min {g[0]:.3f}, max {g[-1]:.3f}, n {len(g)}")


if __name__ == "__main__":
    main()
