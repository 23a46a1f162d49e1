#!/usr/bin/env python3
"""Client side of shards/tests/cluster.rs, with clients nobody here wrote (confluent-kafka on
librdkafka, kafka-python):

  cluster.py describe --bootstrap B                 JSON: live brokers, the controller quorum's
                                                    leader (DescribeCluster), partitions' leaders
                                                    and in-sync replicas
  cluster.py create --bootstrap B --topic T --partitions N [--replication-factor R]
                    [--config K=V ...] [--within S]
                                                    retries (a fresh admin client each time)
                                                    until created; prints the seconds taken
  cluster.py produce --client confluent|kafka-python --bootstrap B --topic T --count N --prefix P
                    [--pad BYTES]
                                                    acks=all; exits 1 unless every record is acked
  cluster.py read --bootstrap B --topic T --expect N
                                                    every partition from offset 0 (no group);
                                                    JSON {partition: [values in offset order]}
  cluster.py commit --bootstrap B --group G --topic T --offsets P=O[,P=O...]
                                                    commits as a consumer outside the group's
                                                    membership (generation -1), synchronously
  cluster.py committed --client confluent|kafka-python --bootstrap B --group G --topic T
                    --partitions N                  JSON {partition: committed offset}; retries
                                                    while no coordinator answers (failover)
  cluster.py resume --bootstrap B --group G --topic T --partitions N
                                                    subscribes as a member of G and reads;
                                                    JSON {partition: first offset consumed}
  cluster.py member --bootstrap B --group G --topic T --expect N
                                                    one member of G reading T until it has N
                                                    records (and 3 s more); JSON: its member id,
                                                    how often it was assigned, revoked or lost
                                                    partitions, and how many records it read
"""
import argparse
import json
import sys
import time


def describe(a):
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    md = admin.list_topics(timeout=10)
    topics = {}
    for name, t in md.topics.items():
        topics[name] = sorted(
            [p.id, p.leader, p.error.name() if p.error else None, sorted(p.isrs)]
            for p in t.partitions.values())
    # DescribeCluster names the controller quorum's leader (Metadata names the broker asked,
    # which forwards topic changes to it).
    cluster = admin.describe_cluster(request_timeout=10).result()
    print(json.dumps({"brokers": sorted(md.brokers), "controller": cluster.controller.id,
                      "topics": topics}, sort_keys=True))


def create(a):
    from confluent_kafka.admin import AdminClient, NewTopic
    start = time.time()
    last = None
    while time.time() - start < a.within:
        try:
            admin = AdminClient({"bootstrap.servers": a.bootstrap})
            configs = dict(kv.split("=", 1) for kv in a.config)
            f = admin.create_topics([NewTopic(a.topic, a.partitions, a.replication_factor,
                                              config=configs)], request_timeout=5)
            f[a.topic].result(timeout=10)
            print(f"{time.time() - start:.3f}")
            return
        except Exception as e:  # the quorum may have no leader yet: try again
            last = e
            time.sleep(0.1)
    sys.exit(f"not created within {a.within} s: {last}")


def produce(a):
    values = [f"{a.prefix}-{i}".encode() for i in range(a.count)]
    pad = b"." * a.pad
    if a.client == "confluent":
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": a.bootstrap, "acks": "all", "enable.idempotence": True,
                      "linger.ms": 5, "message.timeout.ms": 60000})
        failed = []
        for v in values:
            while True:
                try:
                    p.produce(a.topic, key=v, value=v + pad,
                              on_delivery=lambda e, m: e and failed.append(e))
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
        left = p.flush(90)
        if left or failed:
            sys.exit(f"{left} unflushed, {len(failed)} failed: {failed[:3]}")
    else:
        from kafka import KafkaProducer
        p = KafkaProducer(bootstrap_servers=a.bootstrap, acks="all", linger_ms=5, retries=20,
                          max_in_flight_requests_per_connection=1)
        futures = [p.send(a.topic, key=v, value=v + pad) for v in values]
        p.flush(90)
        for f in futures:
            f.get(timeout=30)
        p.close()
    print(a.count)


def read(a):
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": a.bootstrap}).list_topics(a.topic, timeout=10)
    parts = sorted(md.topics[a.topic].partitions)
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "cluster-reader",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(a.topic, p, 0) for p in parts])
    got = {p: [] for p in parts}
    seen = 0
    deadline = time.time() + 90
    while seen < a.expect and time.time() < deadline:
        for m in c.consume(1000, 0.5):
            if m.error():
                continue
            if m.offset() != len(got[m.partition()]):
                sys.exit(f"partition {m.partition()}: offset {m.offset()} after "
                         f"{len(got[m.partition()])} records")
            got[m.partition()].append(m.value().decode())
            seen += 1
    c.close()
    print(json.dumps(got))


def commit(a):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group,
                  "enable.auto.commit": False})
    offsets = [TopicPartition(a.topic, int(p), int(o))
               for p, o in (kv.split("=") for kv in a.offsets.split(","))]
    got = c.commit(offsets=offsets, asynchronous=False)
    bad = [tp for tp in got if tp.error]
    c.close()
    if bad:
        sys.exit(f"commit failed: {bad}")


def committed(a):
    deadline = time.time() + 60
    last = None
    while time.time() < deadline:
        try:
            if a.client == "confluent":
                from confluent_kafka import Consumer, TopicPartition
                c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group})
                got = c.committed([TopicPartition(a.topic, p) for p in range(a.partitions)],
                                  timeout=10)
                c.close()
                errors = [tp.error for tp in got if tp.error]
                if errors:
                    raise RuntimeError(errors)
                print(json.dumps({tp.partition: tp.offset for tp in got}))
            else:
                from kafka import KafkaAdminClient
                admin = KafkaAdminClient(bootstrap_servers=a.bootstrap)
                got = admin.list_group_offsets(a.group).get(a.group, {})
                admin.close()
                print(json.dumps({tp.partition: m.offset for tp, m in got.items()
                                  if tp.topic == a.topic}))
            return
        except Exception as e:  # no coordinator yet (a failover in progress): ask again
            last = e
            time.sleep(0.2)
    sys.exit(f"no committed offsets within 60 s: {last}")


def resume(a):
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.subscribe([a.topic])
    first = {}
    deadline = time.time() + 60
    while len(first) < a.partitions and time.time() < deadline:
        for m in c.consume(100, 0.5):
            if not m.error():
                first.setdefault(m.partition(), m.offset())
    c.close()
    print(json.dumps(first))


def member(a):
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    counts = {"assigned": 0, "revoked": 0, "lost": 0}

    def bump(key):
        def cb(consumer, partitions):
            counts[key] += 1
        return cb
    c.subscribe([a.topic], on_assign=bump("assigned"), on_revoke=bump("revoked"),
                on_lost=bump("lost"))
    read = 0
    deadline = time.time() + 90
    done_at = None
    while time.time() < deadline and (done_at is None or time.time() < done_at + 3):
        for m in c.consume(500, 0.2):
            if not m.error():
                read += 1
        if read >= a.expect and done_at is None:
            done_at = time.time()
    out = dict(counts, read=read, member_id=c.memberid())
    c.close()
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("describe")
    d.add_argument("--bootstrap", required=True)
    c = sub.add_parser("create")
    c.add_argument("--bootstrap", required=True)
    c.add_argument("--topic", required=True)
    c.add_argument("--partitions", type=int, required=True)
    c.add_argument("--replication-factor", type=int, default=1)
    c.add_argument("--config", action="append", default=[], help="KEY=VALUE, a topic config")
    c.add_argument("--within", type=float, default=30)
    p = sub.add_parser("produce")
    p.add_argument("--client", choices=["confluent", "kafka-python"], required=True)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--pad", type=int, default=0, help="bytes added to each value")
    r = sub.add_parser("read")
    r.add_argument("--bootstrap", required=True)
    r.add_argument("--topic", required=True)
    r.add_argument("--expect", type=int, required=True)
    k = sub.add_parser("commit")
    k.add_argument("--bootstrap", required=True)
    k.add_argument("--group", required=True)
    k.add_argument("--topic", required=True)
    k.add_argument("--offsets", required=True)
    q = sub.add_parser("committed")
    q.add_argument("--client", choices=["confluent", "kafka-python"], default="confluent")
    q.add_argument("--bootstrap", required=True)
    q.add_argument("--group", required=True)
    q.add_argument("--topic", required=True)
    q.add_argument("--partitions", type=int, required=True)
    s = sub.add_parser("resume")
    s.add_argument("--bootstrap", required=True)
    s.add_argument("--group", required=True)
    s.add_argument("--topic", required=True)
    s.add_argument("--partitions", type=int, required=True)
    m = sub.add_parser("member")
    m.add_argument("--bootstrap", required=True)
    m.add_argument("--group", required=True)
    m.add_argument("--topic", required=True)
    m.add_argument("--expect", type=int, required=True)
    a = ap.parse_args()
    {"describe": describe, "create": create, "produce": produce, "read": read,
     "commit": commit, "committed": committed, "resume": resume, "member": member}[a.cmd](a)


if __name__ == "__main__":
    main()
