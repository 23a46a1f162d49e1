#!/usr/bin/env python3
"""Kafka behaviours real clients rely on, one case per run, through librdkafka (confluent-kafka)
and kafka-python. Each case exits non-zero naming what differs from Kafka.

  compat.py --bootstrap HOST:PORT CASE
"""
import argparse
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

CASES = {}


def case(f):
    CASES[f.__name__] = f
    return f


def fail(msg):
    sys.exit(f"FAIL: {msg}")


def fresh(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topic(admin, name, partitions=1, config=None):
    for f in admin.create_topics([NewTopic(name, partitions, 1, config=config or {})],
                                 request_timeout=30).values():
        f.result()


@case
def pipelined_commits(bootstrap, admin):
    """50 asynchronous commits on one connection: the committed offset is the last one, never
    an earlier one applied late. Three rounds, each on a new group."""
    topic = fresh("pc")
    create_topic(admin, topic, 2)
    for round in range(3):
        group = fresh("pcg")
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                      "enable.auto.commit": False})
        tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        c.assign(tps)
        for i in range(1, 51):
            c.commit(offsets=[TopicPartition(topic, 0, i), TopicPartition(topic, 1, 100 + i)],
                     asynchronous=True)
        # A synchronous commit of nothing new would reorder nothing: wait for the async ones.
        deadline = time.time() + 30
        while time.time() < deadline:
            got = c.committed(tps, timeout=10)
            if [tp.offset for tp in got] == [50, 150]:
                break
            time.sleep(0.2)
        c.close()
        if [tp.offset for tp in got] != [50, 150]:
            fail(f"round {round}: committed offsets {[tp.offset for tp in got]}, "
                 "expected [50, 150]")


@case
def commit_to_unknown_topic(bootstrap, admin):
    """OffsetCommit and AlterConsumerGroupOffsets name each partition of an unknown topic
    UNKNOWN_TOPIC_OR_PARTITION; partitions of known topics in the same request are stored."""
    known = fresh("known")
    create_topic(admin, known)
    group = fresh("ug")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False, "allow.auto.create.topics": False})
    try:
        result = c.commit(offsets=[TopicPartition("no-such-topic", 0, 5),
                                   TopicPartition(known, 0, 7)], asynchronous=False)
        errors = {tp.topic: tp.error for tp in result}
    except KafkaException as e:
        errors = {"no-such-topic": e.args[0]}
    err = errors.get("no-such-topic")
    if err is None or err.code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
        fail(f"commit to an unknown topic: {errors}")
    got = c.committed([TopicPartition(known, 0)], timeout=10)
    c.close()
    if got[0].offset != 7:
        fail(f"the known topic's offset beside it: {got[0].offset}, expected 7")

    from confluent_kafka import ConsumerGroupTopicPartitions
    req = ConsumerGroupTopicPartitions(fresh("ag"), [TopicPartition("no-such-topic", 0, 3)])
    try:
        res = admin.alter_consumer_group_offsets([req])[req.group_id].result()
        errs = [tp.error for tp in res.topic_partitions]
    except KafkaException as e:
        errs = [e.args[0]]
    if not errs or errs[0] is None or errs[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
        fail(f"AlterConsumerGroupOffsets to an unknown topic: {errs}")


def produce_at(bootstrap, topic, stamps, compression):
    """Produces one record per timestamp, all in one batch (a single flush after lingering)."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 200,
                  "compression.type": compression})
    for i, ts in enumerate(stamps):
        p.produce(topic, value=b"v%d" % i, partition=0, timestamp=ts)
    if p.flush(30) != 0:
        fail("produce did not finish")


@case
def list_offsets_by_timestamp(bootstrap, admin):
    """The offset for a timestamp is the first record at or after it, inside a batch too
    (compressed or not); MAX_TIMESTAMP names the record with the largest timestamp."""
    base = int(time.time() * 1000) - 60_000
    stamps = [base, base + 10, base + 20, base + 5]
    for compression in ["none", "lz4", "zstd"]:
        topic = fresh("ts")
        create_topic(admin, topic)
        produce_at(bootstrap, topic, stamps, compression)
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": fresh("tsg")})
        for target, expected in [(base, 0), (base + 10, 1), (base + 11, 2), (base + 20, 2),
                                 (base + 21, -1), (base + 3, 1)]:
            got = c.offsets_for_times([TopicPartition(topic, 0, target)], timeout=10)[0].offset
            if got != expected:
                fail(f"{compression}: offset for timestamp base+{target - base}: {got}, "
                     f"expected {expected}")
        c.close()
        tp = TopicPartition(topic, 0)
        res = admin.list_offsets({tp: OffsetSpec.max_timestamp()}, request_timeout=10)[tp]
        info = res.result()
        if (info.offset, info.timestamp) != (2, base + 20):
            fail(f"{compression}: MAX_TIMESTAMP: offset {info.offset} timestamp "
                 f"{info.timestamp}, expected 2 at base+20")
        res = admin.list_offsets({tp: OffsetSpec.latest()}, request_timeout=10)[tp].result()
        if res.offset != 4:
            fail(f"{compression}: latest through ListOffsets v7+: {res.offset}")
        from kafka import KafkaConsumer, TopicPartition as KTP
        k = KafkaConsumer(bootstrap_servers=bootstrap)
        ktp = KTP(topic, 0)
        found = k.offsets_for_times({ktp: base + 10})[ktp]
        k.close()
        if found is None or (found.offset, found.timestamp) != (1, base + 10):
            fail(f"{compression}: kafka-python: offset for timestamp base+10: {found}")


@case
def static_member_fenced(bootstrap, admin):
    """A second consumer with the same group.instance.id takes the first one's place; the first
    is fenced (FENCED_INSTANCE_ID, fatal in librdkafka) instead of rejoining and displacing the
    second back and forth."""
    topic = fresh("sm")
    create_topic(admin, topic, 2)
    group = fresh("smg")
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "group.instance.id": "host-a",
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 300,
            "enable.auto.commit": False}
    errors = {1: [], 2: []}
    assigned = {1: 0, 2: 0}

    def consumer(n):
        c = Consumer(dict(conf, error_cb=lambda e: errors[n].append(e)))

        def on_assign(_c, _parts):
            assigned[n] += 1
        c.subscribe([topic], on_assign=on_assign)
        return c

    def poll(c, n, seconds):
        end = time.time() + seconds
        while time.time() < end:
            m = c.poll(0.1)
            if m is not None and m.error():
                errors[n].append(m.error())

    c1 = consumer(1)
    poll(c1, 1, 8)
    if assigned[1] == 0:
        fail("the first instance was never assigned partitions")
    c2 = consumer(2)
    end = time.time() + 15
    while time.time() < end:
        poll(c1, 1, 0.2)
        poll(c2, 2, 0.2)
    fenced = [e for e in errors[1]
              if e.code() == KafkaError.FENCED_INSTANCE_ID or "fenced" in e.str().lower()]
    if not fenced:
        fail(f"the old instance was not fenced; its errors: {errors[1]}")
    if errors[2]:
        fail(f"the new instance saw errors: {errors[2]}")
    desc = admin.describe_consumer_groups([group])[group].result()
    if len(desc.members) != 1 or desc.members[0].member_id != c2.memberid():
        fail(f"members: {[(m.member_id, m.group_instance_id) for m in desc.members]}, "
             f"expected only {c2.memberid()}")
    if assigned[2] > 2:
        fail(f"the new instance was assigned {assigned[2]} times: the two displace each other")
    c2.close()
    try:
        c1.close()
    except KafkaException:
        pass


def group_member(bootstrap, topic, group, client_id):
    """A consumer that has joined `group` and been assigned partitions of `topic`."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": client_id,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    assigned = []
    c.subscribe([topic], on_assign=lambda _c, parts: assigned.extend(parts))
    end = time.time() + 20
    while not assigned and time.time() < end:
        c.poll(0.2)
    if not assigned:
        fail(f"{client_id} was never assigned partitions")
    return c


@case
def describe_groups_members(bootstrap, admin):
    """DescribeGroups shows each member's client id and host, as the member sent them, and the
    group's authorized operations when asked."""
    topic = fresh("dg")
    create_topic(admin, topic)
    group = fresh("dgg")
    c = group_member(bootstrap, topic, group, "my-client-7")
    desc = admin.describe_consumer_groups([group], include_authorized_operations=True)[group]
    desc = desc.result()
    c.close()
    members = [(m.client_id, m.host) for m in desc.members]
    if members != [("my-client-7", "/127.0.0.1")]:
        fail(f"members (client id, host): {members}")
    ops = {o.name for o in (desc.authorized_operations or [])}
    if not {"READ", "DESCRIBE", "DELETE"} <= ops:
        fail(f"group authorized operations: {ops}")


@case
def authorized_operations(bootstrap, admin):
    """Metadata and DescribeCluster answer the authorized operations admin tools ask for: with no
    authorizer, every operation on the resource."""
    from confluent_kafka import TopicCollection
    topic = fresh("ao")
    create_topic(admin, topic, 2)
    t = admin.describe_topics(TopicCollection([topic]), include_authorized_operations=True)
    t = t[topic].result()
    ops = {o.name for o in (t.authorized_operations or [])}
    want = {"READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "DESCRIBE_CONFIGS",
            "ALTER_CONFIGS"}
    if ops != want or len(t.partitions) != 2:
        fail(f"topic: operations {ops}, {len(t.partitions)} partitions")
    cl = admin.describe_cluster(include_authorized_operations=True).result()
    ops = {o.name for o in (cl.authorized_operations or [])}
    if not {"DESCRIBE", "ALTER", "CREATE", "IDEMPOTENT_WRITE", "CLUSTER_ACTION"} <= ops:
        fail(f"cluster operations: {ops}")
    if len(cl.nodes) != 1 or cl.controller is None or not cl.cluster_id:
        fail(f"cluster: {cl.cluster_id} nodes {cl.nodes} controller {cl.controller}")
    # Not asked: none given.
    t = admin.describe_topics(TopicCollection([topic]))[topic].result()
    if t.authorized_operations:
        fail(f"operations given unasked: {t.authorized_operations}")


@case
def offset_delete_per_partition(bootstrap, admin):
    """OffsetDelete on a group with a member: partitions of a topic the group subscribes to are
    refused one by one (GROUP_SUBSCRIBED_TO_TOPIC); those of other topics are deleted; unknown
    topics are named."""
    from kafka.admin import KafkaAdminClient
    from kafka import TopicPartition as KTP
    from kafka.errors import NoError, GroupSubscribedToTopicError, UnknownTopicOrPartitionError
    used, other = fresh("od-used"), fresh("od-other")
    create_topic(admin, used)
    create_topic(admin, other)
    group = fresh("odg")
    c = group_member(bootstrap, used, group, "od")
    c.commit(offsets=[TopicPartition(used, 0, 3), TopicPartition(other, 0, 4)],
             asynchronous=False)
    k = KafkaAdminClient(bootstrap_servers=bootstrap)
    got = k.delete_group_offsets(group, [KTP(used, 0), KTP(other, 0), KTP("no-such", 0)])
    want = {KTP(used, 0): GroupSubscribedToTopicError, KTP(other, 0): NoError,
            KTP("no-such", 0): UnknownTopicOrPartitionError}
    if got != want:
        fail(f"per-partition outcomes: {got}")
    left = c.committed([TopicPartition(used, 0), TopicPartition(other, 0)], timeout=10)
    if [tp.offset for tp in left] != [3, -1001]:
        fail(f"offsets left: {[tp.offset for tp in left]}, expected [3, none]")
    c.close()
    # Once the member has left, the subscribed topic's offsets may go too.
    got = k.delete_group_offsets(group, [KTP(used, 0)])
    k.close()
    if got != {KTP(used, 0): NoError}:
        fail(f"after the member left: {got}")


def describe_topic(admin, topic):
    from confluent_kafka.admin import ConfigResource
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return admin.describe_configs([res])[res].result()


def consume_all(bootstrap, topic, count):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": fresh("read"),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got = []
    end = time.time() + 30
    while len(got) < count and time.time() < end:
        for m in c.consume(100, 0.5):
            if m.error():
                fail(f"consuming {topic}: {m.error()}")
            got.append(m)
    c.close()
    if len(got) != count:
        fail(f"read {len(got)} of {count} records of {topic}")
    return got


@case
def topic_configs(bootstrap, admin):
    """Every Kafka topic config is accepted with a valid value, refused with a bad one, shown by
    DescribeConfigs with its source; AlterConfigs and IncrementalAlterConfigs change them while
    the topic runs."""
    from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource,
                                       ConfigSource)
    given = {"cleanup.policy": "delete", "delete.retention.ms": "1000",
             "min.insync.replicas": "1", "segment.jitter.ms": "10", "preallocate": "true",
             "min.cleanable.dirty.ratio": "0.3", "message.downconversion.enable": "false",
             "max.compaction.lag.ms": "100000", "compression.zstd.level": "7",
             "leader.replication.throttled.replicas": "0:0",
             "message.timestamp.type": "CreateTime", "retention.ms": "3600000"}
    create_topic(admin, "cfg-all", 2, given)
    configs = describe_topic(admin, "cfg-all")
    for k, v in given.items():
        e = configs.get(k)
        if e is None or e.value != v or e.source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value:
            fail(f"{k}: described as {e and (e.value, e.source)}, expected {v} from the topic")
    e = configs.get("unclean.leader.election.enable")
    if e is None or e.value != "false" or e.source != ConfigSource.DEFAULT_CONFIG.value:
        fail(f"a default: {e and (e.value, e.source)}")
    if len(configs) < 30:
        fail(f"only {len(configs)} configs described")
    for bad in [{"min.insync.replicas": "0"}, {"cleanup.policy": "shred"},
                {"no.such.config": "1"}, {"remote.storage.enable": "true"},
                {"retention.ms": "soon"}]:
        try:
            create_topic(admin, fresh("bad"), 1, bad)
            fail(f"created a topic with {bad}")
        except KafkaException as e:
            if e.args[0].code() != KafkaError.INVALID_CONFIG:
                fail(f"{bad}: {e}")

    # Below this broker's own bound: refused in Kafka's words.
    try:
        create_topic(admin, fresh("small"), 1, {"segment.bytes": "1000"})
        fail("created a topic with 1000-byte segments")
    except KafkaException as e:
        if e.args[0].code() != KafkaError.INVALID_CONFIG or "segment.bytes" not in e.args[0].str():
            fail(f"segment.bytes 1000: {e}")

    res = ConfigResource(ConfigResource.Type.TOPIC, "cfg-all",
                         incremental_configs=[
                             ConfigEntry("retention.ms", "7200000",
                                         incremental_operation=AlterConfigOpType.SET),
                             ConfigEntry("cleanup.policy", "compact",
                                         incremental_operation=AlterConfigOpType.APPEND),
                             ConfigEntry("preallocate", None,
                                         incremental_operation=AlterConfigOpType.DELETE)])
    admin.incremental_alter_configs([res])[res].result()
    configs = describe_topic(admin, "cfg-all")
    got = {k: configs[k].value for k in ["retention.ms", "cleanup.policy", "preallocate",
                                          "delete.retention.ms"]}
    if got != {"retention.ms": "7200000", "cleanup.policy": "delete,compact",
               "preallocate": "false", "delete.retention.ms": "1000"}:
        fail(f"after IncrementalAlterConfigs: {got}")
    bad = ConfigResource(ConfigResource.Type.TOPIC, "cfg-all", incremental_configs=[
        ConfigEntry("retention.ms", "x", incremental_operation=AlterConfigOpType.SET)])
    try:
        admin.incremental_alter_configs([bad])[bad].result()
        fail("altered retention.ms to x")
    except KafkaException as e:
        if e.args[0].code() != KafkaError.INVALID_CONFIG:
            fail(f"altering to a bad value: {e}")
    # AlterConfigs replaces the whole set: what it leaves out goes back to its default.
    res = ConfigResource(ConfigResource.Type.TOPIC, "cfg-all",
                         set_config={"segment.ms": "60000"})
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # AlterConfigs is what we test
        admin.alter_configs([res])[res].result()
    configs = describe_topic(admin, "cfg-all")
    if (configs["segment.ms"].value, configs["retention.ms"].source,
            configs["cleanup.policy"].value) != ("60000", ConfigSource.DEFAULT_CONFIG.value,
                                                 "delete"):
        fail(f"after AlterConfigs: {configs['segment.ms'].value} "
             f"{configs['retention.ms'].source} {configs['cleanup.policy'].value}")

    # kafka-python sees the same.
    from kafka.admin import KafkaAdminClient, ConfigResource as KRes, ConfigResourceType
    k = KafkaAdminClient(bootstrap_servers=bootstrap)
    k.alter_configs([KRes(ConfigResourceType.TOPIC, "cfg-all",
                          configs={"segment.ms": "120000", "retention.bytes": "1000000"})])
    configs = describe_topic(admin, "cfg-all")
    k.close()
    if (configs["segment.ms"].value, configs["retention.bytes"].value) != ("120000", "1000000"):
        fail("kafka-python's AlterConfigs")


@case
def topic_configs_after_restart(bootstrap, admin):
    configs = describe_topic(admin, "cfg-all")
    if (configs["segment.ms"].value, configs["retention.bytes"].value) != ("120000", "1000000"):
        fail(f"after a restart: {configs['segment.ms'].value} {configs['retention.bytes'].value}")


@case
def topic_configs_that_change_behaviour(bootstrap, admin):
    """compact topics refuse records without a key; LogAppendTime has the broker stamp batches,
    also once set on a running topic; compression.type has the broker recompress."""
    from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource
    create_topic(admin, "compacted", 1, {"cleanup.policy": "compact"})
    reports = []
    p = Producer({"bootstrap.servers": bootstrap, "retries": 0})
    p.produce("compacted", key=b"k", value=b"with a key", on_delivery=lambda e, m: reports.append(e))
    p.flush(30)  # its own batch: Kafka refuses a batch as a whole
    p.produce("compacted", value=b"no key", on_delivery=lambda e, m: reports.append(e))
    p.flush(30)
    if reports[0] is not None or reports[1] is None or \
            reports[1].code() != KafkaError.INVALID_RECORD:
        fail(f"compacted topic: delivery reports {reports}")

    create_topic(admin, "stamped", 1, {"message.timestamp.type": "LogAppendTime"})
    create_topic(admin, "later", 1)
    before = int(time.time() * 1000)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50})
    for t in ["stamped", "later"]:
        for i in range(5):
            p.produce(t, value=b"%d" % i, timestamp=1000)
    p.flush(30)
    for t, want in [("stamped", TIMESTAMP_LOG_APPEND_TIME), ("later", TIMESTAMP_CREATE_TIME)]:
        for m in consume_all(bootstrap, t, 5):
            kind, ts = m.timestamp()
            if kind != want or (want == TIMESTAMP_LOG_APPEND_TIME and ts < before) or \
                    (want == TIMESTAMP_CREATE_TIME and ts != 1000):
                fail(f"{t}: timestamp {kind} {ts}")
    res = ConfigResource(ConfigResource.Type.TOPIC, "later", incremental_configs=[
        ConfigEntry("message.timestamp.type", "LogAppendTime",
                    incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([res])[res].result()
    p.produce("later", value=b"new", timestamp=1000)
    p.flush(30)
    last = consume_all(bootstrap, "later", 6)[-1]
    if last.timestamp()[0] != TIMESTAMP_LOG_APPEND_TIME or last.timestamp()[1] < before:
        fail(f"after altering to LogAppendTime: {last.timestamp()}")

    # Sent uncompressed, stored with zstd: the data directory holds far fewer bytes than sent,
    # and every record reads back whole.
    create_topic(admin, "squeezed", 1, {"compression.type": "zstd"})
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": "none", "linger.ms": 20})
    for i in range(2000):
        p.produce("squeezed", value=(b"%06d" % i) * 200)
    p.flush(30)
    got = consume_all(bootstrap, "squeezed", 2000)
    if [m.value() for m in got] != [(b"%06d" % i) * 200 for i in range(2000)]:
        fail("squeezed: records differ")
    print(f"stored-bytes-check: squeezed-0 {2000 * 1200}")


@case
def replica_assignment(bootstrap, admin):
    """CreateTopics and CreatePartitions accept a valid manual assignment and refuse an invalid
    one with INVALID_REPLICA_ASSIGNMENT naming why."""
    from confluent_kafka.admin import NewPartitions
    for f in admin.create_topics([NewTopic("ra", 2, replica_assignment=[[0], [0]])]).values():
        f.result()
    md = admin.list_topics("ra", timeout=10).topics["ra"]
    if len(md.partitions) != 2 or md.partitions[1].replicas != [0]:
        fail(f"assigned topic: {md.partitions}")
    for bad, why in [([[1]], "broker 1"), ([[0, 0]], "twice"), ([[0], [0, 0]], "twice")]:
        try:
            for f in admin.create_topics([NewTopic(fresh("rab"), len(bad), replica_assignment=bad)]).values():
                f.result()
            fail(f"created a topic assigned {bad}")
        except KafkaException as e:
            err = e.args[0]
            if err.code() != KafkaError.INVALID_REPLICA_ASSIGNMENT or why not in err.str():
                fail(f"{bad}: {err}")
    for f in admin.create_partitions([NewPartitions("ra", 3, replica_assignment=[[0]])]).values():
        f.result()
    try:
        for f in admin.create_partitions([NewPartitions("ra", 4, replica_assignment=[[7]])]).values():
            f.result()
        fail("added a partition on broker 7")
    except KafkaException as e:
        if e.args[0].code() != KafkaError.INVALID_REPLICA_ASSIGNMENT:
            fail(f"partition on broker 7: {e}")
    if len(admin.list_topics("ra", timeout=10).topics["ra"].partitions) != 3:
        fail("partitions after growing with an assignment")


def earliest(admin, topic):
    tp = TopicPartition(topic, 0)
    return admin.list_offsets({tp: OffsetSpec.earliest()}, request_timeout=10)[tp].result().offset


@case
def delete_records(bootstrap, admin):
    """DeleteRecords moves the log start up: ListOffsets earliest and consumers start there, and
    an offset past the end is refused."""
    create_topic(admin, "dr", 1, {"segment.bytes": "65536", "max.message.bytes": "16384"})
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.num.messages": 50})
    for i in range(3000):
        p.produce("dr", value=b"%05d" % i + b"x" * 95, partition=0)
    p.flush(30)
    res = admin.delete_records([TopicPartition("dr", 0, 2500)])
    low = list(res.values())[0].result().low_watermark
    if low != 2500 or earliest(admin, "dr") != 2500:
        fail(f"after deleting below 2500: low watermark {low}, earliest {earliest(admin, 'dr')}")
    got = consume_all(bootstrap, "dr", 500)
    if got[0].offset() != 2500 or got[0].value()[:5] != b"02500":
        fail(f"first record read: {got[0].offset()} {got[0].value()[:5]}")
    try:
        list(admin.delete_records([TopicPartition("dr", 0, 5000)]).values())[0].result()
        fail("deleted records past the end")
    except KafkaException as e:
        if e.args[0].code() != KafkaError.OFFSET_OUT_OF_RANGE:
            fail(f"past the end: {e}")


@case
def delete_records_after_restart(bootstrap, admin):
    if earliest(admin, "dr") != 2500:
        fail(f"after a restart the log starts at {earliest(admin, 'dr')}")
    got = consume_all(bootstrap, "dr", 500)
    if got[0].offset() != 2500:
        fail(f"after a restart the first record read is {got[0].offset()}")


@case
def describe_log_dirs_and_producers(bootstrap, admin):
    """DescribeLogDirs gives the data directory, each partition's size and the disk's space;
    DescribeProducers the idempotent producers a partition remembers (kafka-python's admin)."""
    from kafka.admin import KafkaAdminClient
    from kafka import TopicPartition as KTP
    create_topic(admin, "ld", 2)
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in range(1000):
        p.produce("ld", value=b"x" * 100, partition=0)
    p.flush(30)
    k = KafkaAdminClient(bootstrap_servers=bootstrap)
    dirs = k.describe_log_dirs({"ld": [0, 1]})
    log_dirs = dirs[0]["log_dirs"]
    sizes = {q["partition_index"]: q["partition_size"]
             for t in log_dirs[0]["topics"] if t["name"] == "ld" for q in t["partitions"]}
    space = (log_dirs[0]["total_bytes"], log_dirs[0]["usable_bytes"])
    if len(log_dirs) != 1 or not log_dirs[0]["log_dir"].startswith("/") or \
            not 100_000 < sizes.get(0, 0) < 200_000 or sizes.get(1) != 0 or \
            not 0 < space[1] < space[0]:
        fail(f"log dirs: {dirs}")
    producers = k.describe_producers([KTP("ld", 0), KTP("ld", 1)])
    k.close()
    active = producers[KTP("ld", 0)].active_producers
    if len(active) != 1 or active[0].last_sequence != 999 or active[0].producer_epoch != 0 \
            or producers[KTP("ld", 1)].active_producers:
        fail(f"producers: {producers}")

@case
def commit_during_rebalance(bootstrap, admin):
    """A member that learns of a rebalance commits its progress before rejoining (librdkafka
    does it from the revoke callback): Kafka accepts that commit while the group prepares the
    rebalance."""
    topic = fresh("cr")
    create_topic(admin, topic, 2)
    group = fresh("crg")
    outcome = []

    def on_revoke(c, parts):
        if outcome:
            return
        try:
            c.commit(offsets=[TopicPartition(topic, 0, 42)], asynchronous=False)
            outcome.append("ok")
        except KafkaException as e:
            outcome.append(str(e))

    conf = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
            "session.timeout.ms": 10000, "heartbeat.interval.ms": 200}
    a = Consumer(conf)
    assigned = []
    a.subscribe([topic], on_assign=lambda c, p: assigned.append(p), on_revoke=on_revoke)
    end = time.time() + 20
    while not assigned and time.time() < end:
        a.poll(0.2)
    b = Consumer(conf)
    b.subscribe([topic])
    end = time.time() + 30
    while not outcome and time.time() < end:
        a.poll(0.1)
        b.poll(0.1)
    if outcome != ["ok"]:
        fail(f"commit from the revoke callback during a rebalance: {outcome}")
    got = b.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    a.close()
    b.close()
    if got != 42:
        fail(f"committed offset {got}, expected 42")


@case
def static_member_fenced_kafka_python(bootstrap, admin):
    """kafka-python: a second consumer with the same group_instance_id takes the place; the
    first one's heartbeat is answered FENCED_INSTANCE_ID (kafka-python logs it and stops its
    heartbeat) and the group keeps one member, the new one."""
    import logging
    from kafka import KafkaConsumer
    from kafka.admin import KafkaAdminClient
    topic = fresh("kps")
    create_topic(admin, topic)
    group = fresh("kpsg")
    fenced = []

    class Catch(logging.Handler):
        def emit(self, record):
            if "fenced" in record.getMessage().lower():
                fenced.append(record.getMessage())
    logging.getLogger("kafka.coordinator").addHandler(Catch())

    def member():
        return KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                             group_instance_id="inst-1", session_timeout_ms=6000,
                             heartbeat_interval_ms=300, enable_auto_commit=False)
    old = member()
    end = time.time() + 20
    while not old.assignment() and time.time() < end:
        old.poll(200)
    if not old.assignment():
        fail("the first instance was never assigned")
    new = member()
    end = time.time() + 25
    while not fenced and time.time() < end:
        new.poll(100)
        old.poll(100)
    if not fenced:
        fail("the old instance was never told it is fenced")
    for _ in range(20):
        new.poll(100)
    k = KafkaAdminClient(bootstrap_servers=bootstrap)
    desc = k.describe_groups([group])
    k.close()
    text = repr(desc)
    if text.count("inst-1") != 1:
        fail(f"the group should hold the new instance alone: {desc}")
    new.close()


def describe_broker(admin):
    from confluent_kafka.admin import ConfigResource
    res = ConfigResource(ConfigResource.Type.BROKER, "0")
    return admin.describe_configs([res])[res].result()


def expect_refused(what, code, call):
    try:
        call()
        fail(f"{what} was accepted")
    except KafkaException as e:
        if e.args[0].code() != code:
            fail(f"{what}: {e}")


@case
def broker_dynamic_configs(bootstrap, admin):
    """The broker's log settings change while it runs (Kafka's cluster-wide dynamic broker
    configs): topics without their own value take them at once, DescribeConfigs says they are
    dynamic, settings read at start only are refused by name."""
    from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource,
                                       ConfigSource)
    static = ConfigSource.STATIC_BROKER_CONFIG.value
    dynamic = ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    broker = describe_broker(admin)
    e = broker.get("log.retention.ms")
    if e is None or e.source != static or e.is_read_only:
        fail(f"log.retention.ms before: {e and (e.value, e.source, e.is_read_only)}")
    if not broker["num.partitions"].is_read_only:
        fail("num.partitions is not read-only")
    create_topic(admin, "dyn-a", 1)
    create_topic(admin, "dyn-b", 1, {"retention.ms": "1000"})

    def alter(*entries, name="0"):
        res = ConfigResource(ConfigResource.Type.BROKER, name, incremental_configs=[
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET if v is not None
                        else AlterConfigOpType.DELETE) for k, v in entries])
        return lambda: admin.incremental_alter_configs([res])[res].result()

    # A batch must fit in a segment here, so smaller segments come with smaller batches.
    alter(("log.retention.ms", "3600000"), ("log.segment.bytes", "131072"),
          ("message.max.bytes", "65536"))()
    broker = describe_broker(admin)
    got = {k: (broker[k].value, broker[k].source) for k in ["log.retention.ms",
                                                             "log.segment.bytes", "log.roll.ms"]}
    if got != {"log.retention.ms": ("3600000", dynamic), "log.segment.bytes": ("131072", dynamic),
               "log.roll.ms": (got["log.roll.ms"][0], static)}:
        fail(f"broker after IncrementalAlterConfigs: {got}")
    a, b = describe_topic(admin, "dyn-a"), describe_topic(admin, "dyn-b")
    got = [(a["retention.ms"].value, a["retention.ms"].source),
           (a["segment.bytes"].value, a["segment.bytes"].source),
           (b["retention.ms"].value, b["retention.ms"].source)]
    if got != [("3600000", dynamic), ("131072", dynamic),
               ("1000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)]:
        fail(f"topics after the broker's change: {got}")

    # The running log takes the new segment size: 1.2 MB roll into about nine 128 KiB
    # segments (the test counts them in the data directory).
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.size": 16384})
    for i in range(1200):
        p.produce("dyn-a", value=b"s" * 1000)
    if p.flush(30) != 0:
        fail("producing to dyn-a")

    expect_refused("num.partitions", KafkaError.INVALID_REQUEST, alter(("num.partitions", "3")))
    expect_refused("log.retention.ms -5", KafkaError.INVALID_CONFIG,
                   alter(("log.retention.ms", "-5")))
    expect_refused("log.segment.bytes 1000", KafkaError.INVALID_CONFIG,
                   alter(("log.segment.bytes", "1000")))
    expect_refused("message.max.bytes above the segment size", KafkaError.INVALID_CONFIG,
                   alter(("message.max.bytes", "1000000")))

    # AlterConfigs replaces the whole set: log.segment.bytes goes back to the file's.
    import warnings
    res = ConfigResource(ConfigResource.Type.BROKER, "0",
                         set_config={"log.retention.ms": "7200000", "log.roll.ms": "86400000"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        admin.alter_configs([res])[res].result()
    broker = describe_broker(admin)
    got = {k: (broker[k].value, broker[k].source) for k in ["log.retention.ms", "log.roll.ms"]}
    if got != {"log.retention.ms": ("7200000", dynamic), "log.roll.ms": ("86400000", dynamic)} \
            or broker["log.segment.bytes"].source != static:
        fail(f"broker after AlterConfigs: {got}, log.segment.bytes from {broker['log.segment.bytes'].source}")

    # kafka-python sees the same.
    from kafka.admin import KafkaAdminClient, ConfigResource as KRes, ConfigResourceType
    k = KafkaAdminClient(bootstrap_servers=bootstrap)
    k.alter_configs([KRes(ConfigResourceType.BROKER, "0",
                          configs={"log.retention.ms": "10800000", "log.roll.ms": "86400000",
                                   "log.retention.bytes": "50000000"})])
    k.close()
    a = describe_topic(admin, "dyn-a")
    if (a["retention.ms"].value, a["retention.bytes"].value) != ("10800000", "50000000"):
        fail(f"after kafka-python's AlterConfigs: {a['retention.ms'].value} "
             f"{a['retention.bytes'].value}")


@case
def broker_dynamic_configs_after_restart(bootstrap, admin):
    from confluent_kafka.admin import ConfigSource
    broker = describe_broker(admin)
    got = {k: (broker[k].value, broker[k].source) for k in ["log.retention.ms",
                                                             "log.retention.bytes"]}
    dynamic = ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    if got != {"log.retention.ms": ("10800000", dynamic),
               "log.retention.bytes": ("50000000", dynamic)}:
        fail(f"after a restart: {got}")
    if describe_topic(admin, "dyn-a")["retention.ms"].value != "10800000":
        fail("dyn-a's retention.ms after a restart")


OLD_FORMATS = [("0.9.0", "magic 0"), ("0.10.0", "magic 1")]


def old_format_client(fallback):
    """librdkafka settings that make it speak as to a broker of `fallback`, never asking
    ApiVersions: 0.9.0 sends message format v0 (Produce/Fetch v1), 0.10.0 format v1 (v2)."""
    return {"api.version.request": False, "broker.version.fallback": fallback}


def check_records(got, count, partitions, what):
    """`got` holds (partition, offset, key, value) for records i = 0..count, sent with key k{i}
    to partition i % partitions: each must arrive once, in partition order."""
    if len(got) != count:
        fail(f"{what}: read {len(got)} of {count} records")
    by_partition = {}
    for p, off, key, value in got:
        by_partition.setdefault(p, []).append((off, key, value))
    for p, recs in by_partition.items():
        expected = [i for i in range(count) if i % partitions == p]
        for n, ((off, key, value), i) in enumerate(zip(recs, expected)):
            if off != n or key != f"k{i}".encode() or value != old_value(i):
                fail(f"{what}: partition {p} record {n} is {off} {key!r} {value[:20]!r}..., "
                     f"expected k{i}")


def old_value(i):
    return (f"value-{i}-" + "x" * (i % 200)).encode()


@case
def old_message_formats(bootstrap, admin):
    """Clients that speak message formats v0 and v1 (librdkafka as to Kafka 0.9 and 0.10, each
    codec; kafka-python as to 0.9 and 0.10) produce, consume in a group and commit, record by
    record; modern clients read what they wrote."""
    count, partitions = 3000, 3
    for fallback, what in OLD_FORMATS:
        for codec in ["none", "gzip", "snappy", "lz4"]:
            topic = fresh(f"old-{codec}")
            create_topic(admin, topic, partitions)
            label = f"librdkafka {fallback} ({what}, {codec})"
            failures = []
            p = Producer({"bootstrap.servers": bootstrap, "compression.codec": codec,
                          "linger.ms": 20, **old_format_client(fallback)})
            for i in range(count):
                p.produce(topic, key=f"k{i}", value=old_value(i), partition=i % partitions,
                          on_delivery=lambda err, _m: err and failures.append(err))
                p.poll(0)
            if p.flush(30) != 0 or failures:
                fail(f"{label}: produce: {failures[:3]}")
            group = fresh("old-group")
            c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                          "auto.offset.reset": "earliest", "enable.auto.commit": False,
                          **old_format_client(fallback)})
            c.subscribe([topic])
            got = []
            end = time.time() + 60
            while len(got) < count and time.time() < end:
                for m in c.consume(500, 0.5):
                    if m.error():
                        fail(f"{label}: consume: {m.error()}")
                    got.append((m.partition(), m.offset(), m.key(), m.value()))
            check_records(got, count, partitions, label)
            c.commit(asynchronous=False)
            c.close()
            committed = admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group)])[group].result().topic_partitions
            offsets = sorted((tp.partition, tp.offset) for tp in committed)
            if offsets != [(q, count // partitions) for q in range(partitions)]:
                fail(f"{label}: committed {offsets}")
            modern = [(m.partition(), m.offset(), m.key(), m.value())
                      for m in consume_all(bootstrap, topic, count)]
            check_records(sorted(modern), count, partitions, f"a modern reader of {label}")

    from kafka import KafkaConsumer, KafkaProducer
    for api_version in [(0, 9), (0, 10, 0)]:
        topic = fresh("old-kafka-python")
        create_topic(admin, topic, partitions)
        label = f"kafka-python as to {api_version}"
        prod = KafkaProducer(bootstrap_servers=bootstrap, api_version=api_version,
                             compression_type="gzip", linger_ms=20)
        futures = [prod.send(topic, key=f"k{i}".encode(), value=old_value(i),
                             partition=i % partitions) for i in range(count)]
        prod.flush(30)
        for f in futures:
            f.get(10)
        prod.close()
        cons = KafkaConsumer(topic, bootstrap_servers=bootstrap, api_version=api_version,
                             group_id=fresh("old-kp"), auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=10000)
        got = [(m.partition, m.offset, m.key, m.value) for m in cons]
        check_records(sorted(got), count, partitions, label)
        cons.commit()
        cons.close()


RESTART_TOPIC, RESTART_COUNT, RESTART_PARTITIONS = "old-restart", 20000, 2


@case
def old_format_before_restart(bootstrap, admin):
    """librdkafka as to Kafka 0.10 (message format v1, lz4) writes 20,000 records; the test
    restarts the broker (64 KiB segments: the records cross several rolls) before
    old_format_after_restart reads them."""
    create_topic(admin, RESTART_TOPIC, RESTART_PARTITIONS)
    failures = []
    p = Producer({"bootstrap.servers": bootstrap, "compression.codec": "lz4", "linger.ms": 20,
                  "batch.size": 16384, **old_format_client("0.10.0")})
    for i in range(RESTART_COUNT):
        p.produce(RESTART_TOPIC, key=f"k{i}", value=old_value(i), partition=i % RESTART_PARTITIONS,
                  on_delivery=lambda err, _m: err and failures.append(err))
        p.poll(0)
    if p.flush(60) != 0 or failures:
        fail(f"produce: {failures[:3]}")


@case
def old_format_after_restart(bootstrap, admin):
    """Every record written before the restart reads back through the old format, in order."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": fresh("old-restart"),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  **old_format_client("0.10.0")})
    c.subscribe([RESTART_TOPIC])
    got = []
    end = time.time() + 90
    while len(got) < RESTART_COUNT and time.time() < end:
        for m in c.consume(1000, 0.5):
            if m.error():
                fail(f"consume: {m.error()}")
            got.append((m.partition(), m.offset(), m.key(), m.value()))
    c.close()
    check_records(got, RESTART_COUNT, RESTART_PARTITIONS, "message format v1 after a restart")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    a = ap.parse_args()
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    CASES[a.case](a.bootstrap, admin)
    print(f"ok: {a.case}")


if __name__ == "__main__":
    main()
