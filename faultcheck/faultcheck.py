#!/usr/bin/env python3
"""Strata's fault checker: three brokers, each in its own network namespace (veth pairs on a
bridge that this script creates and removes), producers (librdkafka through confluent-kafka:
acks=all, idempotence on) and a consumer group running throughout, while seeded faults hit
the brokers: SIGKILL and restart, SIGSTOP and SIGCONT, and network partitions (iptables in a
broker's namespace) of one broker, or of a partition's leader, from the other brokers. Then
every fault is healed, every partition is read from offset 0, and the history is checked
(checks.py): no acknowledged record lost, none stored twice, each producer's records in order,
no offset holding two values, nothing read by a consumer later taken back.

  faultcheck.py --strata target/release/strata [--seed N] [--schedule short|soak]
                [--minutes M] [--out DIR] [--unsafe-high-watermark --expect-loss]

Needs root (namespaces, iptables). The seed is printed first; the same seed gives the same
schedule. A failing run leaves the history, the seed, every broker's log and data under
--out/<seed>/ (a passing one removes its data, keeps history and logs). Exit status: 0 when
the checks pass (with --expect-loss: when they find lost or taken-back records), 1 otherwise.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

from checks import check, summary

TOPIC = "fc"
PARTITIONS = 3
PRODUCERS = 2
GROUP = "fc-group"
KAFKA_PORT = 9092
CONTROLLER_PORT = 9093


def sh(*args, check_ok=True):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check_ok and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stdout.strip()}")
    return r.stdout


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Network:
    """A bridge in this namespace and one namespace per broker, joined to it by a veth pair."""

    def __init__(self, tag, brokers):
        self.tag = tag
        self.n = brokers
        self.bridge = f"sfcbr{tag}"
        self.subnet = f"10.{200 + tag // 256}.{tag % 256}"

    def ns(self, i):
        return f"sfc{self.tag}-{i}"

    def addr(self, i):
        return f"{self.subnet}.{i + 1}"

    def up(self):
        self.down()
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.subnet}.254/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for i in range(self.n):
            ns, outer, inner = self.ns(i), f"sfc{self.tag}v{i}", f"sfc{self.tag}i{i}"
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            sh("ip", "link", "set", inner, "netns", ns)
            sh("ip", "link", "set", outer, "master", self.bridge)
            sh("ip", "link", "set", outer, "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.addr(i)}/24", "dev", inner)
            sh("ip", "-n", ns, "link", "set", inner, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def down(self):
        for i in range(self.n):
            sh("ip", "netns", "del", self.ns(i), check_ok=False)
            sh("ip", "link", "del", f"sfc{self.tag}v{i}", check_ok=False)
        sh("ip", "link", "del", self.bridge, check_ok=False)

    def isolate(self, i, others):
        """Drops everything between broker i and `others` (both ways, from i's side); clients
        still reach it, as in a partition of the brokers' network only."""
        for j in others:
            for chain, flag in (("INPUT", "-s"), ("OUTPUT", "-d")):
                sh("ip", "netns", "exec", self.ns(i), "iptables", "-A", chain, flag,
                   self.addr(j), "-j", "DROP")

    def heal(self, i):
        sh("ip", "netns", "exec", self.ns(i), "iptables", "-F", check_ok=False)


class Broker:
    def __init__(self, i, net, binary, root, extra):
        self.i, self.net, self.binary = i, net, binary
        self.dir = os.path.join(root, f"broker{i}")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data, exist_ok=True)
        quorum = ",".join(f"{j}@{net.addr(j)}:{CONTROLLER_PORT}" for j in range(net.n))
        self.config = os.path.join(self.dir, "strata.toml")
        with open(self.config, "w") as f:
            f.write(f'node_id = {i}\nlisten = "{net.addr(i)}:{KAFKA_PORT}"\n'
                    f'data_dir = "{self.data}"\ncontroller_quorum = "{quorum}"\nshards = 1\n'
                    "broker_heartbeat_interval_ms = 300\nbroker_session_timeout_ms = 3000\n"
                    "replica_lag_time_max_ms = 3000\ndefault_replication_factor = 3\n"
                    "min_insync_replicas = 2\nio_memory_bytes_per_shard = 1048576\n" + extra)
        self.proc = None
        self.paused = False

    def start(self):
        out = open(os.path.join(self.dir, "broker.log"), "a")
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"),
                   STRATA_ALLOW_UNSAFE_TESTING="1")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.net.ns(self.i), self.binary, "serve", "--config",
             self.config], stdout=out, stderr=subprocess.STDOUT, env=env)
        self.paused = False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill(self):
        if self.alive():
            self.signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()

    def pause(self):
        self.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        self.signal(signal.SIGCONT)
        self.paused = False


class History:
    def __init__(self, path):
        self.events = []
        self.lock = threading.Lock()
        self.file = open(path, "w")

    def add(self, event):
        event["t"] = round(time.monotonic(), 4)
        with self.lock:
            self.events.append(event)
            self.file.write(json.dumps(event) + "\n")

    def close(self):
        self.file.close()


def bootstrap(net):
    return ",".join(f"{net.addr(i)}:{KAFKA_PORT}" for i in range(net.n))


def create_topic(net, within_s=60):
    from confluent_kafka.admin import AdminClient, NewTopic
    deadline = time.time() + within_s
    last = None
    while time.time() < deadline:
        try:
            admin = AdminClient({"bootstrap.servers": bootstrap(net)})
            f = admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3,
                                              config={"min.insync.replicas": "2"})],
                                    request_timeout=10)
            f[TOPIC].result(timeout=15)
            return
        except Exception as e:  # no controller yet, or not every broker registered
            if "TOPIC_ALREADY_EXISTS" in str(e):
                return
            last = e
            time.sleep(0.5)
    raise RuntimeError(f"topic not created: {last}")


def leader_of(net, partition):
    from confluent_kafka.admin import AdminClient
    try:
        md = AdminClient({"bootstrap.servers": bootstrap(net)}).list_topics(TOPIC, timeout=5)
        return md.topics[TOPIC].partitions[partition].leader
    except Exception:
        return -1


def healthy(net):
    """Every broker in the metadata and every partition's ISR full."""
    from confluent_kafka.admin import AdminClient
    try:
        md = AdminClient({"bootstrap.servers": bootstrap(net)}).list_topics(TOPIC, timeout=5)
        parts = md.topics[TOPIC].partitions.values()
        return len(md.brokers) == net.n and all(len(p.isrs) == 3 and p.leader >= 0
                                                for p in parts)
    except Exception:
        return False


def produce_loop(k, net, history, stop, rate):
    from confluent_kafka import Producer, KafkaException
    seq = 0

    def new_producer():
        return Producer({"bootstrap.servers": bootstrap(net), "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5,
                         "message.timeout.ms": 20000, "request.timeout.ms": 10000,
                         "topic.metadata.refresh.interval.ms": 1000})

    producer = new_producer()
    fatal = []

    def delivered(err, msg, value):
        if err is None:
            history.add({"type": "ack", "value": value, "partition": msg.partition(),
                         "offset": msg.offset()})
        else:
            history.add({"type": "fail", "value": value, "error": str(err)})
            if err.fatal():
                fatal.append(err)

    interval = 1.0 / rate
    next_at = time.monotonic()
    while not stop.is_set():
        if fatal:
            # An idempotent producer that cannot go on: its records so far are final; a new
            # one (a new producer id) takes over the same sequence of values.
            try:
                producer.flush(30)
            except KafkaException:
                pass
            producer = new_producer()
            fatal.clear()
        value = f"p{k}-{seq}"
        try:
            producer.produce(TOPIC, value=value.encode(), partition=seq % PARTITIONS,
                             on_delivery=lambda e, m, v=value: delivered(e, m, v))
            seq += 1
        except BufferError:
            producer.poll(0.05)
            continue
        except KafkaException as e:
            history.add({"type": "fail", "value": value, "error": str(e)})
            seq += 1
        try:
            producer.poll(0)
        except KafkaException as e:  # a fatal error raised from a callback's context
            fatal.append(e)
        next_at += interval
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    try:
        producer.flush(60)
    except KafkaException:
        pass


def consume_loop(k, net, history, stop):
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": bootstrap(net), "group.id": GROUP,
                  "auto.offset.reset": "earliest", "enable.auto.commit": True,
                  "auto.commit.interval.ms": 500, "session.timeout.ms": 10000,
                  "isolation.level": "read_uncommitted", "client.id": f"fc-consumer-{k}"})
    c.subscribe([TOPIC])
    while not stop.is_set():
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        history.add({"type": "read", "value": m.value().decode(), "partition": m.partition(),
                     "offset": m.offset()})
    c.close()


def final_read(net):
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    c = Consumer({"bootstrap.servers": bootstrap(net), "group.id": "fc-final",
                  "enable.auto.commit": False})
    out = {}
    for p in range(PARTITIONS):
        _, high = c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=30)
        c.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING)])
        records = []
        deadline = time.time() + 120
        while (not records or records[-1][0] < high - 1) and high > 0:
            if time.time() > deadline:
                raise RuntimeError(f"partition {p}: read up to {records[-1:]} of {high}")
            m = c.poll(1.0)
            if m is None or m.error():
                continue
            records.append((m.offset(), m.value().decode()))
        out[p] = records
    c.close()
    return out


FAULTS = ["kill", "pause", "isolate", "isolate-leader", "kill-leader"]


def schedule(rng, minutes, short, faults):
    """(start second, fault, target broker, hold seconds) for the run."""
    length = 45 if short else int(minutes * 60)
    out, t = [], 5.0
    while t < length - 8:
        fault = rng.choice(faults)
        hold = rng.uniform(3, 7)
        out.append((t, fault, rng.randrange(3), round(hold, 2)))
        t += hold + rng.uniform(3, 6)
    return length, out


def apply_fault(fault, target, brokers, net):
    """Starts a fault; returns the function that heals it."""
    if fault in ("isolate-leader", "kill-leader"):
        leader = leader_of(net, 0)
        target = leader if leader >= 0 else target
    b = brokers[target]
    if fault.startswith("kill"):
        b.kill()
        return lambda: b.start()
    if fault == "pause":
        b.pause()
        return b.resume
    others = [j for j in range(net.n) if j != target]
    net.isolate(target, others)
    return lambda: net.heal(target)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--strata", required=True)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--schedule", choices=["short", "soak"], default="short")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--out", default="target/faultcheck")
    ap.add_argument("--rate", type=int, default=300, help="records/s per producer")
    ap.add_argument("--faults", default=",".join(FAULTS),
                    help=f"the kinds to draw from, comma-separated: {','.join(FAULTS)}")
    ap.add_argument("--unsafe-high-watermark", action="store_true")
    ap.add_argument("--expect-loss", action="store_true")
    a = ap.parse_args()
    kinds = a.faults.split(",")
    if not kinds or any(k not in FAULTS for k in kinds):
        sys.exit(f"--faults: kinds are {','.join(FAULTS)}")
    if os.geteuid() != 0:
        sys.exit("faultcheck needs root: it makes network namespaces and iptables rules")
    seed = a.seed if a.seed is not None else random.randrange(1 << 31)
    print(f"seed {seed}", flush=True)
    rng = random.Random(seed)
    root = os.path.abspath(os.path.join(a.out, str(seed)))
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    with open(os.path.join(root, "seed"), "w") as f:
        f.write(f"{seed}\n")
    # Names of its own, so that runs side by side never share a namespace or a bridge.
    net = Network((seed + os.getpid()) % 4096, 3)
    extra = "testing_unsafe_high_watermark = true\n" if a.unsafe_high_watermark else ""
    brokers = [Broker(i, net, os.path.abspath(a.strata), root, extra) for i in range(3)]
    history = History(os.path.join(root, "history.jsonl"))
    stop = threading.Event()
    threads = []
    heals = []
    interrupted = []
    signal.signal(signal.SIGINT, lambda *_: interrupted.append(True) or stop.set())
    try:
        net.up()
        for b in brokers:
            b.start()
        create_topic(net)
        log(f"topic {TOPIC}: {PARTITIONS} partitions, 3 replicas, min.insync.replicas 2")
        for k in range(PRODUCERS):
            threads.append(threading.Thread(target=produce_loop,
                                            args=(k, net, history, stop, a.rate)))
        consumer_stop = threading.Event()
        for k in range(2):
            threads.append(threading.Thread(target=consume_loop,
                                            args=(k, net, history, consumer_stop)))
        for t in threads:
            t.start()
        length, plan = schedule(rng, a.minutes, a.schedule == "short", kinds)
        start = time.monotonic()
        for at, fault, target, hold in plan:
            while time.monotonic() - start < at and not stop.is_set():
                time.sleep(0.05)
            if stop.is_set():
                break
            heal = apply_fault(fault, target, brokers, net)
            log(f"{fault} (broker {target} or the leader of partition 0) for {hold} s")
            heals.append(heal)
            time.sleep(hold)
            heals.pop()()
            log("healed")
        while time.monotonic() - start < length and not stop.is_set():
            time.sleep(0.1)
        stop.set()
        for t in threads[:PRODUCERS]:
            t.join()
        deadline = time.time() + 60
        while not healthy(net) and time.time() < deadline:
            time.sleep(0.5)
        log(f"producers stopped; cluster healthy: {healthy(net)}")
        time.sleep(3)
        consumer_stop.set()
        for t in threads[PRODUCERS:]:
            t.join()
        final = final_read(net)
    finally:
        stop.set()
        for heal in heals:
            heal()
        history.close()
        for b in brokers:
            b.kill()
        net.down()
    if interrupted:
        sys.exit("interrupted")
    with open(os.path.join(root, "final.json"), "w") as f:
        json.dump(final, f)
    problems = check(history.events, final)
    report = summary(history.events, final, problems)
    report["seed"] = seed
    print(json.dumps(report), flush=True)
    for kind, detail in problems[:20]:
        print(f"  {kind}: {detail}")
    lost = any(k in ("lost", "read then lost") for k, _ in problems)
    ok = lost if a.expect_loss else not problems
    if ok and not a.expect_loss:
        for b in brokers:
            shutil.rmtree(b.data, ignore_errors=True)
    if not ok:
        print(f"FAILED: history, logs and data under {root}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
