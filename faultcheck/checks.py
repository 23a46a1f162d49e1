"""The fault checker's verdict: pure functions over a run's history (what producers sent and
had acknowledged, what consumers read) and the final read of every partition from offset 0
after the faults were healed. Unit-tested against handmade histories in test_checks.py.

A history is a list of events (dicts):
  {"type": "ack", "value": V, "partition": P, "offset": O}   acknowledged (acks=all; O is None
                                                              when the client knows no offset)
  {"type": "fail", "value": V, "error": E}                    refused or timed out: may or may not
                                                              be in the log, but at most once
  {"type": "read", "value": V, "partition": P, "offset": O}  a consumer read it
Values are "<producer>-<sequence>"; each producer sends each partition its records in sequence
order. The final read is {partition: [(offset, value), ...]} in offset order.
"""

from collections import defaultdict


def producer_and_seq(value):
    producer, _, seq = value.rpartition("-")
    return producer, int(seq)


def check(history, final):
    """The problems found, each a (kind, detail) pair; none means the run kept its promises."""
    problems = []
    at = {}
    where = defaultdict(list)
    for partition, records in final.items():
        for offset, value in records:
            at[(partition, offset)] = value
            where[value].append((partition, offset))

    # 1. Every acknowledged record is there, where its acknowledgement said.
    for e in history:
        if e["type"] != "ack":
            continue
        places = where.get(e["value"], [])
        if not places:
            problems.append(("lost", f"{e['value']} acknowledged at "
                                     f"{e['partition']}:{e['offset']} is not in the log"))
        elif e["offset"] is None or e["offset"] < 0:
            # Acknowledged without an offset: librdkafka's idempotent producer does so for a
            # batch whose answer it lost when a later one of the same producer succeeds.
            if all(p != e["partition"] for p, _ in places):
                problems.append(("moved", f"{e['value']} acknowledged in partition "
                                          f"{e['partition']} is at {places}"))
        elif (e["partition"], e["offset"]) not in places:
            problems.append(("moved", f"{e['value']} acknowledged at "
                                      f"{e['partition']}:{e['offset']} is at {places}"))

    # 2. An idempotent producer's record is stored at most once, acknowledged or not.
    for value, places in where.items():
        if len(places) > 1:
            problems.append(("duplicated", f"{value} is at {sorted(places)}"))

    # 3. Within a partition, each producer's records are in the order it sent them.
    for partition, records in final.items():
        last = {}
        for offset, value in records:
            producer, seq = producer_and_seq(value)
            if producer in last and seq < last[producer][0]:
                problems.append(("reordered", f"partition {partition}: {value} at {offset} after "
                                              f"{producer}-{last[producer][0]} at "
                                              f"{last[producer][1]}"))
            last[producer] = (seq, offset)

    # 4. An offset never held two values over the run, and 5. nothing a consumer read was
    # taken back (it would have read a record the cluster then lost).
    seen = {}
    for e in history:
        if e["type"] != "read":
            continue
        key = (e["partition"], e["offset"])
        before = seen.setdefault(key, e["value"])
        if before != e["value"]:
            problems.append(("offset reused", f"{key[0]}:{key[1]} read as {before} and as "
                                              f"{e['value']}"))
        if at.get(key) != e["value"]:
            problems.append(("read then lost", f"{e['value']} read at {key[0]}:{key[1]}, "
                                               f"which now holds {at.get(key)}"))
    return problems


def summary(history, final, problems):
    kinds = defaultdict(int)
    for kind, _ in problems:
        kinds[kind] += 1
    return {
        "sent": sum(1 for e in history if e["type"] in ("ack", "fail")),
        "acknowledged": sum(1 for e in history if e["type"] == "ack"),
        "failed": sum(1 for e in history if e["type"] == "fail"),
        "read_by_consumers": sum(1 for e in history if e["type"] == "read"),
        "in_final_log": sum(len(r) for r in final.values()),
        "problems": dict(kinds),
    }
