#!/usr/bin/env python3
"""Crash-consistency harness: a broker under a librdkafka producer and a consumer group is
SIGKILLed at random moments and restarted on the same data directory, N cycles; then every
acknowledged record is checked at its acknowledged partition and offset.

  crash_loop.py --broker target/release/strata --cycles 30 --seed 7 [--mode idempotent|acks1]
                [--rate 15000] [--partitions 8] [--segment-bytes N] [--work-dir DIR] [--json OUT]
                [--fault sigkill|power --fault-disk DIR]

Faults: `sigkill` (a process crash). `power` (a power loss): the data directory is on an ext4 on a
loop device on a fault disk (the faultdisk crate, mounted at --fault-disk DIR); each cycle cuts the
disk's power (its unflushed writes are lost, but for a random share of its dirty blocks), kills
the broker, remounts (ext4 replays its journal) and restarts. With a power loss only what was
fdatasync'ed is promised: records acknowledged with acks=all, and not records acknowledged with
acks=1 or records a consumer was given before they were synced (both counted, not failures).
In every mode each record in the log must be whole (CRC checked, value as produced): nothing
half-written reappears.

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

    def __init__(self, binary, work, segment_bytes, data):
        Broker.started.append(self)
        self.binary = binary
        self.data = data
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


class PowerCut:
    """The data directory on ext4 on a loop device on a fault disk: cut() loses what the disk
    had not flushed (but for a share of its dirty blocks) and mounts the file system again."""
    attached = []

    def __init__(self, fault_disk, mountpoint, rng):
        self.disk = os.path.join(fault_disk, "disk")
        self.control = os.path.join(fault_disk, "control")
        self.mountpoint = mountpoint
        self.rng = rng
        self.loop = None
        self.cuts = []
        os.makedirs(mountpoint, exist_ok=True)
        run(["mkfs.ext4", "-q", "-F", self.disk])
        self.attach()

    def attach(self):
        self.loop = run(["losetup", "--find", "--show", self.disk]).strip()
        run(["mount", "-t", "ext4", self.loop, self.mountpoint])

    def detach(self):
        for attempt in range(100):
            if subprocess.run(["umount", self.mountpoint], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)  # the killed broker's last io_uring requests are still ending
        else:
            sys.exit(f"could not unmount {self.mountpoint}")
        run(["losetup", "-d", self.loop])
        self.loop = None

    def command(self, text):
        with open(self.control, "w") as f:
            f.write(text)
        with open(self.control) as f:
            return f.read().strip()

    def cut(self):
        keep = self.rng.choice([0.0, 0.0, 0.25, 0.75])
        state = self.command(f"cut {keep} {self.rng.randrange(1 << 32)}")
        self.cuts.append(f"keep {keep}: {state}")

    def power_on(self):
        self.command("on")
        self.attach()


def run(args):
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


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
        try:
            left = self.p.flush(300)
        except Exception as e:  # a fatal producer error: reported with the check, not instead of it
            self.failed.append(f"producer: {e}")
            return
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
                  "enable.auto.commit": False, "fetch.wait.max.ms": 100, "check.crcs": True})
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


def seq_of(value):
    """The record's number if it is whole (exactly as produced), else None."""
    try:
        seq = int(value.split(b"-")[1])
    except (IndexError, ValueError):
        return None
    return seq if value == value_of(seq) else None


def check(mode, fault, acked, log, seen):
    """Returns (lost, duplicates, seen_then_lost, problems)."""
    problems = []
    lost = 0
    duplicates = 0
    seen_then_lost = 0
    # Only fdatasync'ed records are promised across a power loss: acks=all ones.
    loss_is_failure = fault == "sigkill" or mode == "idempotent"
    for p, records in log.items():
        offsets = [o for o, _ in records]
        if offsets != list(range(len(records))):
            problems.append(f"partition {p}: offsets are not 0..{len(records)}")
            continue
        broken = [o for o, v in records if seq_of(v) is None]
        if broken:
            problems.append(f"partition {p}: {len(broken)} records not as produced, first at offset {broken[0]}")
            continue
        at = {o: v for o, v in records}
        last_offset = -1
        for offset, seq in acked[p]:
            if at.get(offset) != value_of(seq):
                lost += 1
                if lost <= 5 and loss_is_failure:
                    problems.append(f"partition {p}: acknowledged seq {seq} at offset {offset}, log has "
                                    f"{at.get(offset, b'nothing')[:20]!r}")
            # Without idempotence a client may reorder retried batches (librdkafka does, as
            # Kafka allows), and after a power loss acks=1 offsets that were lost are given
            # again: the order is promised to idempotent producers only.
            if offset <= last_offset and mode == "idempotent":
                problems.append(f"partition {p}: acknowledged offsets out of order at seq {seq}")
                break
            last_offset = max(last_offset, offset)
        seqs = [seq_of(v) for _, v in records]
        duplicates += len(seqs) - len(set(seqs))
        if seqs != sorted(seqs) and mode == "idempotent":
            problems.append(f"partition {p}: records out of production order")
        for offset, value in seen.get(p, {}).items():
            if at.get(offset) != value:
                seen_then_lost += 1
                if fault == "sigkill":
                    problems.append(f"partition {p}: the group consumer was given {value[:20]!r} at offset "
                                    f"{offset}, the log now has {at.get(offset, b'nothing')[:20]!r}")
                    break
    if mode == "idempotent" and duplicates:
        problems.append(f"{duplicates} duplicates with an idempotent producer")
    return lost, duplicates, seen_then_lost, problems


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
    ap.add_argument("--fault", default="sigkill", choices=["sigkill", "power"])
    ap.add_argument("--fault-disk", help="with --fault power: where the faultdisk is mounted (as root)")
    a = ap.parse_args()
    if a.fault == "power" and not a.fault_disk:
        sys.exit("--fault power needs --fault-disk (see the faultdisk crate)")
    print(f"crash loop: seed {a.seed}, fault {a.fault}, mode {a.mode}, {a.cycles} cycles, {a.rate} records/s, "
          f"segment_bytes {a.segment_bytes or 'default'}", flush=True)
    rng = random.Random(a.seed)
    work = a.work_dir or tempfile.mkdtemp(prefix="strata-crash-loop-")
    os.makedirs(work, exist_ok=True)
    power = None
    if a.fault == "power":
        power = PowerCut(a.fault_disk, os.path.join(work, "mnt"), random.Random(a.seed + 1))
        PowerCut.attached.append(power)
        data = os.path.join(work, "mnt", "data")
    else:
        data = os.path.join(work, "data")
    broker = Broker(a.broker, work, a.segment_bytes, data)

    def crash():
        if power:
            power.cut()
        broker.kill()
        if power:
            power.detach()
            power.power_on()

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
        crash()
        broker.start()
        acked = sum(len(v) for v in producer.acked.values())
        what = f"power cut ({power.cuts[-1]})" if power else "killed"
        print(f"cycle {cycle + 1}/{a.cycles}: {what} and restarted; {acked} acknowledged so far", flush=True)
    producer.finish()
    consumer.finish()
    crash()  # a last crash, right after the last acknowledgements
    broker.start()
    log = read_log(broker.bootstrap, topic, a.partitions)
    broker.stop()
    if power:
        power.detach()
    lost, duplicates, seen_then_lost, problems = check(a.mode, a.fault, producer.acked, log, consumer.seen)
    summary = {
        "seed": a.seed, "fault": a.fault, "mode": a.mode, "cycles": a.cycles, "segment_bytes": a.segment_bytes,
        "seconds": round(time.time() - t0, 1), "sent": producer.sent,
        "acknowledged": sum(len(v) for v in producer.acked.values()),
        "failed_deliveries": len(producer.failed), "in_log": sum(len(v) for v in log.values()),
        "lost": lost, "duplicates": duplicates,
        "consumed_by_group": sum(len(v) for v in consumer.seen.values()), "group_commits": consumer.commits,
        "consumed_then_lost": seen_then_lost, "problems": problems,
    }
    print(json.dumps(summary), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f)
    if problems or producer.failed:
        sys.exit(f"FAILED (work dir kept: {work}): {problems[:5]} {producer.failed[:3]}")
    if not a.work_dir:
        subprocess.run(["rm", "-rf", work])
    if a.fault == "power" and a.mode == "acks1":
        print(f"ok: every record whole; {lost} acks=1 records lost to power cuts (not promised)")
    else:
        print("ok: nothing acknowledged was lost")


if __name__ == "__main__":
    try:
        main()
    finally:
        # Whatever ended the run, no broker is left behind.
        for b in Broker.started:
            if b.proc is not None and b.proc.poll() is None:
                b.proc.kill()
                b.proc.wait()
        for p in PowerCut.attached:
            if p.loop:
                subprocess.run(["umount", p.mountpoint], capture_output=True)
                subprocess.run(["losetup", "-d", p.loop], capture_output=True)
