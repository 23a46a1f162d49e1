#!/usr/bin/env python3
"""Produce records to a topic with a real Kafka client, read them all back, check every one.

Used by shards/tests/interop.rs. Each record's value names its partition and its sequence number
in that partition, so the reader checks content, exactly-once and per-partition order.

  roundtrip.py --client kafka-python|confluent --bootstrap HOST:PORT --topic T --partitions 8
               --records 100000 [--compression none|gzip|snappy|lz4|zstd] [--acks 1|all]
               [--phase produce|consume|both|seek] [--start N] [--seeks N --seed S]

The seek phase (confluent only) reads one record at each of N random offsets per partition, for
a topic written in order by one producer: the record at offset o of partition p is its o-th.
"""
import argparse
import sys
import time


def value_of(partition, seq):
    return b"p%d-s%d-" % (partition, seq) + b"x" * 40


def plan(records, partitions, start):
    """(partition, seq) of records start..records, round-robin over partitions."""
    for i in range(start, records):
        yield i % partitions, i // partitions


def produce_kafka_python(a):
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=a.bootstrap)
    try:
        admin.create_topics([NewTopic(a.topic, a.partitions, 1)])
    except TopicAlreadyExistsError:
        pass
    admin.close()
    p = KafkaProducer(
        bootstrap_servers=a.bootstrap,
        acks=1 if a.acks == "1" else "all",
        compression_type=None if a.compression == "none" else a.compression,
        linger_ms=5,
        batch_size=64 * 1024,
        max_in_flight_requests_per_connection=1,
    )
    futures = [p.send(a.topic, value=value_of(part, seq), partition=part) for part, seq in plan(a.records, a.partitions, a.start)]
    p.flush()
    for f in futures:
        f.get(timeout=60)
    p.close()


def produce_confluent(a):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    # CreateTopics is not idempotent in the client: through a proxy that drops connections it is
    # tried again, and an existing topic (an earlier attempt's) is fine.
    for attempt in range(10):
        try:
            admin.create_topics([NewTopic(a.topic, a.partitions, 1)])[a.topic].result()
            break
        except Exception as e:
            if "TOPIC_ALREADY_EXISTS" in str(e):
                break
            if attempt == 9 or "_TRANSPORT" not in str(e):
                raise
            time.sleep(0.2)
    errors = []
    conf = {
        "bootstrap.servers": a.bootstrap,
        "acks": a.acks,
        "compression.type": a.compression,
        "linger.ms": 5,
        "enable.idempotence": False,
        "max.in.flight.requests.per.connection": 1,
    }
    if a.idempotent:
        conf.update({"enable.idempotence": True, "acks": "all", "max.in.flight.requests.per.connection": 5,
                     "message.timeout.ms": 120000, "retry.backoff.ms": 50,
                     # Small batches: many requests, so many moments for the proxy to drop at.
                     "batch.size": 16384,
                     # librdkafka backs off up to 10 s after a connection that closed soon after it
                     # opened; against a proxy that drops several a second, that alone outlasts
                     # message.timeout.ms. The broker's handling of retries is what is tested.
                     "reconnect.backoff.max.ms": 500})
    if a.debug:
        conf["debug"] = a.debug
    p = Producer(conf)
    def report(err, _msg):
        if err is not None:
            errors.append(err)
    for i, (part, seq) in enumerate(plan(a.records, a.partitions, a.start)):
        if a.pace_ms and i % 1000 == 0:
            p.poll(0)
            time.sleep(a.pace_ms / 1000)
        while True:
            try:
                p.produce(a.topic, value=value_of(part, seq), partition=part, on_delivery=report)
                break
            except BufferError:
                p.poll(0.05)
    left = p.flush(150)
    if left or errors:
        sys.exit(f"produce failed: {left} undelivered, errors: {errors[:5]}")


def consume_kafka_python(a):
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=a.bootstrap, enable_auto_commit=False, group_id=None,
                      fetch_max_wait_ms=200, max_partition_fetch_bytes=1 << 20)
    parts = [TopicPartition(a.topic, i) for i in range(a.partitions)]
    c.assign(parts)
    c.seek_to_beginning(*parts)
    deadline = time.time() + 120
    seen = {}
    while sum(len(v) for v in seen.values()) < a.records and time.time() < deadline:
        for tp, msgs in c.poll(timeout_ms=500).items():
            seen.setdefault(tp.partition, []).extend((m.offset, m.value) for m in msgs)
    c.close()
    return seen


def consume_confluent(a):
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING

    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "strata-interop", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 200})
    c.assign([TopicPartition(a.topic, i, OFFSET_BEGINNING) for i in range(a.partitions)])
    deadline = time.time() + 120
    seen = {}
    while sum(len(v) for v in seen.values()) < a.records and time.time() < deadline:
        for m in c.consume(num_messages=10000, timeout=0.5):
            if m.error():
                sys.exit(f"consume error: {m.error()}")
            seen.setdefault(m.partition(), []).append((m.offset(), m.value()))
    c.close()
    return seen


def seek_confluent(a):
    """Reads at random offsets below each partition's end; every read must find its record."""
    import random
    from confluent_kafka import Consumer, TopicPartition

    per_partition = a.records // a.partitions
    rng = random.Random(a.seed)
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "strata-seek", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 100})
    deadline = time.time() + 120
    for round in range(a.seeks):
        want = {p: rng.randrange(per_partition) for p in range(a.partitions)}
        c.assign([TopicPartition(a.topic, p, o) for p, o in want.items()])
        found = {}
        while len(found) < a.partitions:
            if time.time() > deadline:
                sys.exit(f"seek round {round}: no record yet at {sorted(set(want.items()) - set(found.items()))}")
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    sys.exit(f"seek round {round}: consume error: {m.error()}")
                p = m.partition()
                if p in found:
                    continue
                if m.offset() != want[p] or m.value() != value_of(p, want[p]):
                    sys.exit(f"seek round {round}: partition {p} at {want[p]} gave offset {m.offset()}: {m.value()[:30]!r}")
                found[p] = m.offset()
        c.unassign()
    c.close()
    print(f"ok: {a.seeks * a.partitions} reads at random offsets")


def check(a, seen):
    expected = {}
    for part, seq in plan(a.records, a.partitions, 0):
        expected.setdefault(part, []).append(value_of(part, seq))
    total = sum(len(v) for v in seen.values())
    for part in range(a.partitions):
        got = seen.get(part, [])
        offsets = [o for o, _ in got]
        if offsets != list(range(len(got))):
            sys.exit(f"partition {part}: offsets not 0..{len(got)} in order: {offsets[:10]}...")
        values = [v for _, v in got]
        if values != expected.get(part, []):
            for i, (g, e) in enumerate(zip(values, expected.get(part, []))):
                if g != e:
                    sys.exit(f"partition {part}: record {i} is {g[:30]!r}, expected {e[:30]!r}")
            sys.exit(f"partition {part}: {len(values)} records, expected {len(expected.get(part, []))}")
    print(f"ok: {total} records in {a.partitions} partitions, content and order checked")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", required=True, choices=["kafka-python", "confluent"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--compression", default="none")
    ap.add_argument("--acks", default="1")
    ap.add_argument("--phase", default="both", choices=["produce", "consume", "both", "seek"])
    ap.add_argument("--seeks", type=int, default=10, help="seek phase: random offsets per partition")
    ap.add_argument("--seed", type=int, default=1, help="seek phase: random seed")
    ap.add_argument("--idempotent", action="store_true", help="librdkafka enable.idempotence=true")
    ap.add_argument("--debug", help="librdkafka debug contexts, logged to stderr")
    ap.add_argument("--pace-ms", type=int, default=0, help="sleep this long every 1000 records")
    a = ap.parse_args()
    t0 = time.time()
    if a.phase in ("produce", "both"):
        (produce_kafka_python if a.client == "kafka-python" else produce_confluent)(a)
        print(f"produced records {a.start}..{a.records} in {time.time() - t0:.1f}s")
    if a.phase in ("consume", "both"):
        seen = (consume_kafka_python if a.client == "kafka-python" else consume_confluent)(a)
        check(a, seen)
    if a.phase == "seek":
        seek_confluent(a)


if __name__ == "__main__":
    main()
