#!/usr/bin/env python3
"""Topic administration through librdkafka's admin client (confluent-kafka): create with
configs, describe configs, add partitions, delete; and kafka-python's admin for the same.

  admin.py --bootstrap HOST:PORT
"""
import argparse
import sys
import time

from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic


def fail(msg):
    sys.exit(msg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    a = ap.parse_args()
    admin = AdminClient({"bootstrap.servers": a.bootstrap})

    new = NewTopic("adm", 3, 1, config={"retention.ms": "3600000", "segment.bytes": "1048576"})
    for f in admin.create_topics([new], request_timeout=30).values():
        f.result()
    try:
        for f in admin.create_topics([NewTopic("adm", 3, 1)]).values():
            f.result()
        fail("creating an existing topic succeeded")
    except Exception as e:
        if "TOPIC_ALREADY_EXISTS" not in str(e):
            fail(f"unexpected error for an existing topic: {e}")

    res = ConfigResource(ConfigResource.Type.TOPIC, "adm")
    configs = admin.describe_configs([res])[res].result()
    if configs["retention.ms"].value != "3600000" or configs["segment.bytes"].value != "1048576":
        fail(f"topic configs: {({k: v.value for k, v in configs.items()})}")
    broker = ConfigResource(ConfigResource.Type.BROKER, "0")
    bconf = admin.describe_configs([broker])[broker].result()
    if "num.partitions" not in bconf:
        fail(f"broker configs: {list(bconf)}")

    for f in admin.create_partitions([NewPartitions("adm", 5)]).values():
        f.result()
    md = admin.list_topics("adm", timeout=10)
    if len(md.topics["adm"].partitions) != 5:
        fail(f"partitions after growing: {len(md.topics['adm'].partitions)}")
    try:
        for f in admin.create_partitions([NewPartitions("adm", 2)]).values():
            f.result()
        fail("shrinking partitions succeeded")
    except Exception as e:
        if "INVALID_PARTITIONS" not in str(e):
            fail(f"unexpected error for shrinking: {e}")

    for f in admin.delete_topics(["adm"]).values():
        f.result()
    time.sleep(0.2)
    if "adm" in admin.list_topics(timeout=10).topics:
        fail("deleted topic still listed")

    from kafka.admin import KafkaAdminClient, NewTopic as KNewTopic
    kadmin = KafkaAdminClient(bootstrap_servers=a.bootstrap)
    kadmin.create_topics([KNewTopic("kadm", 2, 1)])
    if "kadm" not in kadmin.list_topics():
        fail("kafka-python: created topic not listed")
    kadmin.delete_topics(["kadm"])
    kadmin.close()
    print("ok: admin operations")


if __name__ == "__main__":
    main()
