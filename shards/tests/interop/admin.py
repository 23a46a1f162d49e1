#!/usr/bin/env python3
"""Topic administration through librdkafka's admin client (confluent-kafka): create with
configs, describe configs, add partitions, delete; and kafka-python's admin for the same.
Group administration through both: list, describe, and delete (refused while a member is in).

  admin.py --bootstrap HOST:PORT
"""
import argparse
import sys
import time

from confluent_kafka import Consumer, Producer
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
    groups(a.bootstrap, admin)
    print("ok: admin operations")


def groups(bootstrap, admin):
    """A group with one member is listed (Stable), described and not deletable; once the member
    has left, the group is deleted with its offsets and is listed no more."""
    for f in admin.create_topics([NewTopic("gadm", 2, 1)], request_timeout=30).values():
        f.result()
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(10):
        p.produce("gadm", value=b"%d" % i, partition=i % 2)
    p.flush(30)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "adm-group",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe(["gadm"])
    got = 0
    deadline = time.time() + 30
    while got < 10 and time.time() < deadline:
        got += len([m for m in c.consume(10, 0.5) if not m.error()])
    if got != 10:
        fail(f"group member read {got} of 10 records")
    c.commit(asynchronous=False)

    listed = {g.group_id: g for g in admin.list_consumer_groups(request_timeout=10).result().valid}
    if "adm-group" not in listed or listed["adm-group"].state.name != "STABLE":
        fail(f"listed groups: {[(k, v.state) for k, v in listed.items()]}")
    desc = admin.describe_consumer_groups(["adm-group"])["adm-group"].result()
    if len(desc.members) != 1 or desc.state.name != "STABLE":
        fail(f"described group: {desc.state} with {len(desc.members)} members")
    try:
        admin.delete_consumer_groups(["adm-group"])["adm-group"].result()
        fail("deleting a group with a member succeeded")
    except Exception as e:
        if "NON_EMPTY_GROUP" not in str(e):
            fail(f"unexpected error deleting a group with a member: {e}")

    from kafka.admin import KafkaAdminClient
    kadmin = KafkaAdminClient(bootstrap_servers=bootstrap)
    kgroups = kadmin.list_groups()
    if "adm-group" not in [g["group_id"] for g in kgroups]:
        fail(f"kafka-python: groups listed: {kgroups}")
    offsets = kadmin.list_group_offsets("adm-group").get("adm-group", {})
    if sum(o.offset for o in offsets.values()) != 10:
        fail(f"kafka-python: committed offsets: {offsets}")

    c.close()
    admin.delete_consumer_groups(["adm-group"])["adm-group"].result()
    listed = [g.group_id for g in admin.list_consumer_groups(request_timeout=10).result().valid]
    if "adm-group" in listed:
        fail(f"deleted group still listed: {listed}")
    if kadmin.list_group_offsets("adm-group").get("adm-group"):
        fail("kafka-python: a deleted group still has committed offsets")
    kadmin.close()
    for f in admin.delete_topics(["gadm"]).values():
        f.result()


if __name__ == "__main__":
    main()
