#!/usr/bin/env python3
"""A consumer-group member for shards/tests/groups.rs: subscribes to a topic in a group, writes
"partition offset value" for every record it processes to OUT (flushed), then commits
synchronously (a failed commit is logged and consumption goes on, as applications do), and
repeats until the file STOP exists; then closes (leaving the group).

  group_consumer.py --client confluent|kafka-python --bootstrap B --topic T --group G --out OUT --stop STOP
"""
import argparse
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", required=True, choices=["confluent", "kafka-python"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stop", required=True)
    ap.add_argument("--strategy", default=None, help="librdkafka partition.assignment.strategy")
    ap.add_argument("--instance", default=None, help="group.instance.id (static membership)")
    a = ap.parse_args()
    out = open(a.out, "a", buffering=1)

    def write(records):
        for p, o, v in records:
            out.write(f"{p} {o} {v.decode()}\n")
        out.flush()
        os.fsync(out.fileno())

    if a.client == "confluent":
        from confluent_kafka import Consumer, KafkaException
        # Each member its own client.id, as deployments have, so that its log names it.
        conf = {"bootstrap.servers": a.bootstrap, "group.id": a.group, "auto.offset.reset": "earliest",
                "client.id": f"member-{a.instance or os.getpid()}",
                "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                "fetch.wait.max.ms": 100}
        if a.strategy:
            conf["partition.assignment.strategy"] = a.strategy
        if a.instance:
            conf["group.instance.id"] = a.instance
        if os.environ.get("STRATA_MEMBER_DEBUG"):
            conf["debug"] = os.environ["STRATA_MEMBER_DEBUG"]
        c = Consumer(conf)
        c.subscribe([a.topic])
        while not os.path.exists(a.stop):
            msgs = [m for m in c.consume(1000, 0.2) if not m.error()]
            if msgs:
                write([(m.partition(), m.offset(), m.value()) for m in msgs])
                try:
                    c.commit(asynchronous=False)
                except KafkaException as e:
                    # A commit sent just before a rebalance ends can name the old generation
                    # (ILLEGAL_GENERATION, as Kafka answers); the next owner re-reads from the
                    # last commit. Uncaught, it ended this script, and librdkafka's destroy
                    # then spun forever waiting for an assign call no one would make.
                    print(f"commit failed: {e}", file=sys.stderr, flush=True)
        print("closing", file=sys.stderr, flush=True)
        c.close()
    else:
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError
        c = KafkaConsumer(a.topic, bootstrap_servers=a.bootstrap, group_id=a.group, auto_offset_reset="earliest",
                          enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500,
                          fetch_max_wait_ms=100)
        while not os.path.exists(a.stop):
            batch = c.poll(timeout_ms=200, max_records=1000)
            records = [(tp.partition, m.offset, m.value) for tp, ms in batch.items() for m in ms]
            if records:
                write(records)
                try:
                    c.commit()
                except KafkaError as e:
                    print(f"commit failed: {e}", file=sys.stderr, flush=True)
        c.close()
    print("closed", file=sys.stderr)


if __name__ == "__main__":
    main()
