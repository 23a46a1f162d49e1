"""Keeps librdkafka's in-process mock cluster (1 broker) alive with the topic made (by a first
record: the mock auto-creates it), and prints its address."""
import sys, time
from confluent_kafka import Producer
p = Producer({"test.mock.num.brokers": 1})
p.produce(sys.argv[2], b"first")
p.flush(10)
md = p.list_topics(timeout=10)
print(",".join(f"{b.host}:{b.port}" for b in md.brokers.values()), flush=True)
print("partitions", len(md.topics[sys.argv[2]].partitions), file=sys.stderr, flush=True)
time.sleep(float(sys.argv[1]))
