#!/usr/bin/env python3
"""Crash-consistency harness: a broker under a librdkafka producer and a consumer group is
SIGKILLed at random moments and restarted on the same data directory, N cycles; then every
acknowledged record is checked at its acknowledged partition and offset.

  crash_loop.py --broker target/release/strata --cycles 30 --seed 7 [--mode idempotent|acks1]
                [--rate 15000] [--partitions 8] [--segment-bytes N] [--work-dir DIR] [--json OUT]

Modes: `idempotent` (enable.idempotence, acks=all): every acknowledged record exactly once, at its
acknowledged offset, in per-partition order. `acks1` (acks=1, no idempotence): every acknowledged
record at its acknowledged offset and in order; duplicates from retries are counted (at-least-once,
as in Kafka). In both modes the consumer group's records must be what the log holds at those
offsets after the last restart: a consumer never saw a record that a crash took back.

The same seed gives the same kill times and record stream; what the clients do between kills
depends on timing. Exit status 0 means nothing acknowledged was lost.
"""
import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    started = []

    def __init__(self, binary, work, segment_bytes):
        Broker.started.append(self)
        self.binary = binary
        self.data = os.path.join(work, "data")
        self.port = free_port()
        self.config = os.path.join(work, "strata.toml")
        self.log = open(os.path.join(work, "broker.log"), "ab")
        extra = f"[log]\nsegment_bytes = {segment_bytes}\n" if segment_bytes else ""
        with open(self.config, "w") as f:
            f.write("shards = 2\nio_memory_bytes_per_shard = 1048576\nshutdown_grace_ms = 3000\n" + extra)
        self.proc = None

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--config", self.config, "--data-dir", self.data,
             "--listen", self.bootstrap],
            stdout=subprocess.DEVNULL, stderr=self.log, env={**os.environ, "RUST_LOG": "info"})
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"broker exited with {self.proc.returncode}; see {self.log.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)
        sys.exit("broker did not start in 60 s")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        if self.proc.wait(timeout=30) != 0:
            sys.exit(f"broker exited with {self.proc.returncode} on SIGTERM")


def value_of(seq):
    return b"seq-%d-" % seq + b"v" * 80


class ProducerLoad:
    """Produces records numbered 0, 1, 2, ... at `rate` per second, round-robin over partitions,
    and keeps what was acknowledged: partition -> [(offset, seq)]."""

    def __init__(self, bootstrap, topic, partitions, rate, mode):
        from confluent_kafka import Producer
        conf = {"bootstrap.servers": bootstrap, "linger.ms": 5, "message.timeout.ms": 600000, "log_level": 3,
                "reconnect.backoff.max.ms": 500, "retry.backoff.ms": 100}
        if mode == "idempotent":
            conf.update({"enable.idempotence": True, "acks": "all"})
        else:
            conf.update({"acks": "1", "enable.idempotence": False})
        self.p = Producer(conf)
        self.topic, self.partitions, self.rate = topic, partitions, rate
        self.acked = {p: [] for p in range(partitions)}
        self.failed = []
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def report(self, err, msg):
        if err is not None:
            self.failed.append(str(err))
        else:
            seq = int(msg.value().split(b"-")[1])
            self.acked[msg.partition()].append((msg.offset(), seq))

    def run(self):
        t0 = time.time()
        while not self.stop.is_set():
            due = int((time.time() - t0) * self.rate)
            while self.sent < due:
                seq = self.sent
                try:
                    self.p.produce(self.topic, value=value_of(seq), partition=seq % self.partitions,
                                   on_delivery=self.report)
                except BufferError:
                    break
                self.sent += 1
            self.p.poll(0.005)

    def finish(self):
        self.stop.set()
        self.thread.join()
        left = self.p.flush(300)
        if left:
            sys.exit(f"{left} records still unacknowledged 300 s after the last restart")


class GroupConsumer:
    """A consumer-group member that commits what it processed; keeps partition -> {offset: value}."""

    def __init__(self, bootstrap, topic, group):
        from confluent_kafka import Consumer
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "log_level": 3,
                           "auto.offset.reset": "earliest", "enable.auto.commit": False,
                           "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                           "fetch.wait.max.ms": 100})
        self.c.subscribe([topic])
        self.seen = {}
        self.commits = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            msgs = [m for m in self.c.consume(1000, 0.2) if not m.error()]
            for m in msgs:
                self.seen.setdefault(m.partition(), {})[m.offset()] = m.value()
            if msgs:
                try:
                    self.c.commit(asynchronous=False)
                    self.commits += 1
                except Exception:
                    pass  # the broker is down; the next batch commits again

    def finish(self):
        self.stop.set()
        self.thread.join()
        self.c.close()


def read_log(bootstrap, topic, partitions):
    """Every record of every partition: partition -> [(offset, value)]."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "crash-loop-check", "log_level": 3,
                  "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    ends = {}
    for p in range(partitions):
        _, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        ends[p] = hi
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out = {p: [] for p in range(partitions)}
    deadline = time.time() + 300
    while any(len(out[p]) < ends[p] for p in range(partitions)):
        if time.time() > deadline:
            short = {p: (len(out[p]), ends[p]) for p in range(partitions) if len(out[p]) < ends[p]}
            sys.exit(f"reading the log back stalled: (read, end) {short}")
        for m in c.consume(10000, 0.5):
            if m.error():
                sys.exit(f"reading the log back: {m.error()}")
            out[m.partition()].append((m.offset(), m.value()))
    c.close()
    return out


def check(mode, acked, log, seen):
    """Returns (lost, duplicates, problems)."""
    problems = []
    lost = 0
    duplicates = 0
    for p, records in log.items():
        offsets = [o for o, _ in records]
        if offsets != list(range(len(records))):
            problems.append(f"partition {p}: offsets are not 0..{len(records)}")
            continue
        at = {o: v for o, v in records}
        last_offset = -1
        for offset, seq in acked[p]:
            if at.get(offset) != value_of(seq):
                lost += 1
                if lost <= 5:
                    problems.append(f"partition {p}: acknowledged seq {seq} at offset {offset}, log has "
                                    f"{at.get(offset, b'nothing')[:20]!r}")
            if offset <= last_offset:
                problems.append(f"partition {p}: acknowledged offsets out of order at seq {seq}")
            last_offset = max(last_offset, offset)
        seqs = [int(v.split(b"-")[1]) for _, v in records]
        duplicates += len(seqs) - len(set(seqs))
        if seqs != sorted(seqs) and mode == "idempotent":
            problems.append(f"partition {p}: records out of production order")
        for offset, value in seen.get(p, {}).items():
            if at.get(offset) != value:
                problems.append(f"partition {p}: the group consumer was given {value[:20]!r} at offset "
                                f"{offset}, the log now has {at.get(offset, b'nothing')[:20]!r}")
                break
    if mode == "idempotent" and duplicates:
        problems.append(f"{duplicates} duplicates with an idempotent producer")
    return lost, duplicates, problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", required=True, help="the strata binary")
    ap.add_argument("--cycles", type=int, default=30)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--mode", default="idempotent", choices=["idempotent", "acks1"])
    ap.add_argument("--rate", type=int, default=15000, help="records per second")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--segment-bytes", type=int, default=0, help="0: the broker's default")
    ap.add_argument("--min-run-ms", type=int, default=1000)
    ap.add_argument("--max-run-ms", type=int, default=6000)
    ap.add_argument("--work-dir", help="default: a new temporary directory, removed on success")
    ap.add_argument("--json", help="write the summary here too")
    a = ap.parse_args()
    print(f"crash loop: seed {a.seed}, mode {a.mode}, {a.cycles} cycles, {a.rate} records/s, "
          f"segment_bytes {a.segment_bytes or 'default'}", flush=True)
    rng = random.Random(a.seed)
    work = a.work_dir or tempfile.mkdtemp(prefix="strata-crash-loop-")
    os.makedirs(work, exist_ok=True)
    broker = Broker(a.broker, work, a.segment_bytes)
    broker.start()
    topic = "crash-loop"
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, a.partitions, 1)])[topic].result(timeout=30)
    del admin
    producer = ProducerLoad(broker.bootstrap, topic, a.partitions, a.rate, a.mode)
    consumer = GroupConsumer(broker.bootstrap, topic, "crash-loop-group")
    producer.thread.start()
    consumer.thread.start()
    t0 = time.time()
    for cycle in range(a.cycles):
        time.sleep(rng.uniform(a.min_run_ms, a.max_run_ms) / 1000)
        broker.kill()
        broker.start()
        acked = sum(len(v) for v in producer.acked.values())
        print(f"cycle {cycle + 1}/{a.cycles}: killed and restarted; {acked} acknowledged so far", flush=True)
    producer.finish()
    consumer.finish()
    broker.kill()  # a last crash, right after the last acknowledgements
    broker.start()
    log = read_log(broker.bootstrap, topic, a.partitions)
    broker.stop()
    lost, duplicates, problems = check(a.mode, producer.acked, log, consumer.seen)
    summary = {
        "seed": a.seed, "mode": a.mode, "cycles": a.cycles, "segment_bytes": a.segment_bytes,
        "seconds": round(time.time() - t0, 1), "sent": producer.sent,
        "acknowledged": sum(len(v) for v in producer.acked.values()),
        "failed_deliveries": len(producer.failed), "in_log": sum(len(v) for v in log.values()),
        "lost": lost, "duplicates": duplicates,
        "consumed_by_group": sum(len(v) for v in consumer.seen.values()), "group_commits": consumer.commits,
        "problems": problems,
    }
    print(json.dumps(summary), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f)
    if problems or producer.failed:
        sys.exit(f"FAILED (work dir kept: {work}): {problems[:5]} {producer.failed[:3]}")
    if not a.work_dir:
        subprocess.run(["rm", "-rf", work])
    print("ok: nothing acknowledged was lost")


if __name__ == "__main__":
    try:
        main()
    finally:
        # Whatever ended the run, no broker is left behind.
        for b in Broker.started:
            if b.proc is not None and b.proc.poll() is None:
                b.proc.kill()
