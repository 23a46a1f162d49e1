//! Replicated partitions (issue 15) on three `strata` processes, one cluster, driven by clients
//! nobody here wrote (confluent-kafka on librdkafka, kafka-python) through `interop/cluster.py`:
//! a leader SIGKILLed under acks=all load fails over without losing or doubling a record and its
//! replicas end byte-equal; a paused follower leaves the in-sync replicas and acks=all carries
//! on (refused with NOT_ENOUGH_REPLICAS where min.insync.replicas asks for it), then returns.
//! A group's committed offsets live in its partition of the replicated `__consumer_offsets`:
//! when its coordinator is SIGKILLed, the partition's new leader coordinates the group, with
//! every committed offset, and a member resumes from them.
//! The fault checker (`faultcheck.rs`) goes further, with network partitions.

mod common;
#[path = "common/raw.rs"]
mod raw;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::cluster::*;
use common::*;

/// Followers that stop fetching leave the ISR within seconds.
const REPLICATION_CONFIG: &str = "replica_lag_time_max_ms = 2000\n";

fn create_replicated(broker: &BrokerProcess, topic: &str, partitions: i32, configs: &[&str]) {
    let mut args = vec![
        "create".to_string(),
        "--bootstrap".into(),
        broker.bootstrap(),
        "--topic".into(),
        topic.into(),
        "--partitions".into(),
        partitions.to_string(),
        "--replication-factor".into(),
        "3".into(),
    ];
    for c in configs {
        args.push("--config".into());
        args.push(c.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cluster_py(&args);
}

/// Partition -> in-sync replicas of `topic`.
fn isrs(d: &serde_json::Value, topic: &str) -> BTreeMap<i64, Vec<i64>> {
    d["topics"][topic]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let isr = p[3].as_array().unwrap().iter().map(|b| b.as_i64().unwrap());
                    (p[0].as_i64().unwrap(), isr.collect())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn all_in_sync(d: &serde_json::Value, topic: &str, partitions: usize) -> bool {
    let isrs = isrs(d, topic);
    isrs.len() == partitions && isrs.values().all(|isr| isr == &[0, 1, 2])
}

/// `cluster.py produce` in the background: acks=all, exiting 1 unless every record is
/// acknowledged; values `{prefix}-{i}` with `pad` bytes after them.
fn spawn_producer(
    client: &str,
    bootstrap: &str,
    topic: &str,
    count: u64,
    prefix: &str,
    pad: usize,
) -> std::process::Child {
    Command::new(python())
        .arg(script())
        .args(["produce", "--client", client, "--bootstrap", bootstrap])
        .args(["--topic", topic, "--count", &count.to_string()])
        .args(["--prefix", prefix, "--pad", &pad.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs")
}

/// Every partition of `topic` read from offset 0 through `broker`.
fn read_all(broker: &BrokerProcess, topic: &str, expect: usize) -> BTreeMap<String, Vec<String>> {
    serde_json::from_str(&cluster_py(&[
        "read",
        "--bootstrap",
        &broker.bootstrap(),
        "--topic",
        topic,
        "--expect",
        &expect.to_string(),
    ]))
    .expect("read prints JSON")
}

/// A partition's stored batches as one byte string: its `.log` files in order (after a clean
/// stop every segment is sealed, so the files hold all of it).
fn log_bytes(data_dir: &Path, topic: &str, partition: i64) -> Vec<u8> {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    let mut logs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.iter()
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[test]
fn a_killed_leader_fails_over_and_every_acknowledged_record_is_kept_once_on_every_replica() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start_cluster_with(dir.path(), REPLICATION_CONFIG);
    wait_for(&nodes[0], "three live brokers", |d| brokers(d) == [0, 1, 2]);
    create_replicated(&nodes[0], "rep", 6, &["min.insync.replicas=2"]);
    wait_for(&nodes[0], "every replica in sync", |d| {
        all_in_sync(d, "rep", 6)
    });
    let d = describe(&nodes[0]);
    let victim = leaders(&d, "rep")[&0].0 as usize;
    let bootstrap: Vec<String> = nodes.iter().map(|n| n.bootstrap()).collect();
    let bootstrap = bootstrap.join(",");
    // Two producers through the failover, each told every record was acknowledged or exiting 1.
    const EACH: u64 = 30_000;
    let spawn =
        |client: &str, prefix: &str| spawn_producer(client, &bootstrap, "rep", EACH, prefix, 0);
    let producers = [
        spawn("confluent", "rdkafka"),
        spawn("kafka-python", "kafkapython"),
    ];
    // The kill lands mid-load: once partition 0 holds a tenth of its share of the records
    // (a sleep alone let both producers finish first on a fast day).
    let mut probe = raw::RawConn::connect(nodes[victim].addr);
    let share = 2 * EACH as i64 / 6;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let end = probe.latest_offset("rep", 0);
        if end >= share / 10 {
            assert!(
                end < share,
                "the producers finished before the kill ({end} records)"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no load on partition 0"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    nodes[victim].kill();
    for p in producers {
        let out = p.wait_with_output().unwrap();
        assert!(out.status.success(), "a producer: {}", output_text(&out));
    }
    let survivor = (victim + 1) % 3;
    wait_for(
        &nodes[survivor],
        "every partition led by a live broker",
        |d| {
            leaders(d, "rep")
                .values()
                .all(|(l, _)| *l >= 0 && *l as usize != victim)
        },
    );
    nodes[victim].restart();
    wait_for(
        &nodes[survivor],
        "the returning broker back in every ISR",
        |d| all_in_sync(d, "rep", 6),
    );
    let got = read_all(&nodes[survivor], "rep", 2 * EACH as usize);
    let mut values = BTreeSet::new();
    for (p, records) in &got {
        for v in records {
            assert!(values.insert(v.clone()), "{v} twice (partition {p})");
        }
        assert_producer_order(records.iter().map(|v| (p.parse().unwrap(), v.clone())));
    }
    assert_eq!(
        values.len() as u64,
        2 * EACH,
        "every acknowledged record, once"
    );
    // Stopped cleanly, every replica holds the same bytes, epochs stamped alike.
    for n in nodes.iter_mut() {
        n.stop();
    }
    for p in 0..6 {
        let logs: Vec<Vec<u8>> = (0..3)
            .map(|n| log_bytes(&dir.path().join(format!("node{n}")), "rep", p))
            .collect();
        assert!(!logs[0].is_empty());
        assert!(
            logs.iter().all(|l| *l == logs[0]),
            "partition {p}: replicas differ ({:?} bytes)",
            logs.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_paused_follower_leaves_the_isr_and_acks_all_goes_on_unless_min_insync_forbids() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster_with(dir.path(), REPLICATION_CONFIG);
    wait_for(&nodes[0], "three live brokers", |d| brokers(d) == [0, 1, 2]);
    create_replicated(&nodes[0], "lenient", 3, &["min.insync.replicas=2"]);
    create_replicated(&nodes[0], "strict", 3, &["min.insync.replicas=3"]);
    wait_for(&nodes[0], "every replica in sync", |d| {
        all_in_sync(d, "lenient", 3) && all_in_sync(d, "strict", 3)
    });
    produce(&nodes[0], "confluent", "lenient", 5_000, "before");
    // Pause a broker that is not the controller quorum's leader and leads nothing of "strict"
    // partition 0, so the survivors keep the quorum and a leader to ask.
    let d = describe(&nodes[0]);
    let controller = d["controller"].as_i64().unwrap();
    let strict_leader = leaders(&d, "strict")[&0].0;
    let paused = (0..3)
        .find(|n| *n != controller && *n != strict_leader)
        .expect("a broker to pause") as usize;
    let pid = nodes[paused].pid().expect("running") as i32;
    // SAFETY: kill(2) on a child process of this test; no memory is involved.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let alive = (paused + 1) % 3;
    let shrunk = wait_for(&nodes[alive], "the paused broker out of every ISR", |d| {
        isrs(d, "lenient")
            .values()
            .chain(isrs(d, "strict").values())
            .all(|isr| isr.len() == 2 && !isr.contains(&(paused as i64)))
    });
    // acks=all goes on with two in sync where two are enough...
    produce(&nodes[alive], "confluent", "lenient", 5_000, "during");
    // ...and is refused, nothing appended, where three are needed.
    let leader = leaders(&shrunk, "strict")[&0].0 as usize;
    let mut c = raw::RawConn::connect(nodes[leader].addr);
    let batch = strata_record::batch::build(&[b"needs three"], 1);
    let (code, _) = c.produce("strict", 0, batch.clone(), -1);
    assert_eq!(code, 19, "NOT_ENOUGH_REPLICAS");
    assert_eq!(c.latest_offset("strict", 0), 0);
    assert_eq!(
        c.produce("strict", 0, batch, 1).0,
        0,
        "acks=1 is not bound by it"
    );
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    wait_for(
        &nodes[alive],
        "the returning broker back in every ISR",
        |d| all_in_sync(d, "lenient", 3) && all_in_sync(d, "strict", 3),
    );
    let got = read_all(&nodes[alive], "lenient", 10_000);
    let total: usize = got.values().map(Vec::len).sum();
    assert_eq!(total, 10_000);
}

/// The broker coordinating `group`, as FindCoordinator names it (asking until one is ready).
fn coordinator_of(broker: &BrokerProcess, group: &str) -> usize {
    use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest, ResponseKind};
    let mut c = raw::RawConn::connect(broker.addr);
    c.wait_for_coordinator(group);
    let req = FindCoordinatorRequest::default().with_key(
        kafka_protocol::protocol::StrBytes::from_string(group.to_string()),
    );
    match c.request(ApiKey::FindCoordinator, 3, &req) {
        ResponseKind::FindCoordinator(r) => {
            assert_eq!(r.error_code, 0);
            r.node_id.0 as usize
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn committed(bootstrap: &str, group: &str, topic: &str, partitions: usize) -> BTreeMap<i64, i64> {
    let out = cluster_py(&[
        "committed",
        "--bootstrap",
        bootstrap,
        "--group",
        group,
        "--topic",
        topic,
        "--partitions",
        &partitions.to_string(),
    ]);
    let got: BTreeMap<String, i64> = serde_json::from_str(&out).expect("committed prints JSON");
    got.into_iter()
        .map(|(p, o)| (p.parse().unwrap(), o))
        .collect()
}

#[test]
fn a_killed_group_coordinator_hands_the_group_and_its_committed_offsets_to_a_replica() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start_cluster_with(dir.path(), REPLICATION_CONFIG);
    wait_for(&nodes[0], "three live brokers", |d| brokers(d) == [0, 1, 2]);
    create_replicated(&nodes[0], "orders", 4, &[]);
    wait_for(&nodes[0], "every replica in sync", |d| {
        all_in_sync(d, "orders", 4)
    });
    produce(&nodes[0], "confluent", "orders", 4_000, "order");
    let group = "moving-group";
    let victim = coordinator_of(&nodes[0], group);
    // The offsets topic is replicated as widely as the cluster allows (3), every replica in
    // sync before the commit, so the commit is on all three when it is acknowledged.
    wait_for(&nodes[0], "the offsets topic in sync", |d| {
        all_in_sync(d, "__consumer_offsets", 50)
    });
    let offsets: BTreeMap<i64, i64> = [(0, 101), (1, 202), (2, 303), (3, 44)].into();
    let spec: Vec<String> = offsets.iter().map(|(p, o)| format!("{p}={o}")).collect();
    cluster_py(&[
        "commit",
        "--bootstrap",
        &nodes[victim].bootstrap(),
        "--group",
        group,
        "--topic",
        "orders",
        "--offsets",
        &spec.join(","),
    ]);
    assert_eq!(
        committed(&nodes[victim].bootstrap(), group, "orders", 4),
        offsets
    );
    nodes[victim].kill();
    let survivors: Vec<usize> = (0..3).filter(|n| *n != victim).collect();
    let bootstrap: Vec<String> = survivors.iter().map(|n| nodes[*n].bootstrap()).collect();
    let bootstrap = bootstrap.join(",");
    // librdkafka finds the new coordinator (retrying while the partition fails over).
    assert_eq!(committed(&bootstrap, group, "orders", 4), offsets);
    let now = coordinator_of(&nodes[survivors[0]], group);
    assert_ne!(now, victim, "a live broker coordinates the group");
    // A member of the group starts where the group left off, on every partition.
    let first: BTreeMap<String, i64> = serde_json::from_str(&cluster_py(&[
        "resume",
        "--bootstrap",
        &bootstrap,
        "--group",
        group,
        "--topic",
        "orders",
        "--partitions",
        "4",
    ]))
    .expect("resume prints JSON");
    let first: BTreeMap<i64, i64> = first
        .into_iter()
        .map(|(p, o)| (p.parse().unwrap(), o))
        .collect();
    assert_eq!(first, offsets, "the first offset read on each partition");
}

#[test]
fn a_stopped_broker_hands_its_leaderships_over_first_and_producers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start_cluster_with(dir.path(), REPLICATION_CONFIG);
    wait_for(&nodes[0], "three live brokers", |d| brokers(d) == [0, 1, 2]);
    create_replicated(&nodes[0], "calm", 6, &["min.insync.replicas=2"]);
    let d = wait_for(&nodes[0], "every replica in sync", |d| {
        all_in_sync(d, "calm", 6)
    });
    // A broker that leads partitions and is not the controller quorum's leader.
    let controller = d["controller"].as_i64().unwrap();
    let stopping = leaders(&d, "calm")
        .values()
        .map(|(l, _)| *l)
        .find(|l| *l != controller)
        .expect("a leader that is not the controller") as usize;
    let bootstrap: Vec<String> = nodes.iter().map(|n| n.bootstrap()).collect();
    let bootstrap = bootstrap.join(",");
    const COUNT: u64 = 40_000;
    let producer = spawn_producer("confluent", &bootstrap, "calm", COUNT, "calm", 0);
    let survivor = (stopping + 1) % 3;
    let mut probe = raw::RawConn::connect(nodes[survivor].addr);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while (0..6)
        .map(|p| probe.latest_offset("calm", p).max(0))
        .sum::<i64>()
        < COUNT as i64 / 20
    {
        assert!(std::time::Instant::now() < deadline, "no load");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SIGTERM: the broker asks the controller to move its leaderships, then stops.
    let started = std::time::Instant::now();
    nodes[stopping].stop();
    let took = started.elapsed();
    // Already done when it has stopped, not a broker session (2.5 s) later.
    let d = describe(&nodes[survivor]);
    let moved = leaders(&d, "calm")
        .values()
        .all(|(l, _)| *l >= 0 && *l as usize != stopping);
    let out_of_sync = isrs(&d, "calm")
        .values()
        .all(|isr| !isr.contains(&(stopping as i64)));
    assert!(
        moved && out_of_sync,
        "leaderships and ISRs moved before it stopped ({took:?}): {d}"
    );
    assert!(
        nodes[stopping]
            .log_text()
            .contains("the controller moved this broker's partitions"),
        "{}",
        nodes[stopping].log_text()
    );
    eprintln!("controlled shutdown took {took:?}");
    let out = producer.wait_with_output().unwrap();
    assert!(out.status.success(), "the producer: {}", output_text(&out));
    let got = read_all(&nodes[survivor], "calm", COUNT as usize);
    let mut values = BTreeSet::new();
    for (p, records) in &got {
        for v in records {
            assert!(values.insert(v.clone()), "{v} twice (partition {p})");
        }
    }
    assert_eq!(
        values.len() as u64,
        COUNT,
        "every acknowledged record, once"
    );
    // It comes back into every ISR.
    nodes[stopping].restart();
    wait_for(&nodes[survivor], "the returning broker in every ISR", |d| {
        all_in_sync(d, "calm", 6)
    });
}

#[test]
fn replicas_go_to_different_racks_when_brokers_name_them() {
    let dir = tempfile::tempdir().unwrap();
    // Brokers 0 and 1 on rack a, broker 2 alone on rack b: with two replicas, every partition
    // has one on b (consecutive brokers would put partitions led by 0 on 0 and 1, both on a).
    let nodes = start_cluster_each(dir.path(), |n| {
        format!(
            "{REPLICATION_CONFIG}rack = \"{}\"\n",
            if n == 2 { "b" } else { "a" }
        )
    });
    wait_for(&nodes[0], "three live brokers", |d| brokers(d) == [0, 1, 2]);
    cluster_py(&[
        "create",
        "--bootstrap",
        &nodes[0].bootstrap(),
        "--topic",
        "racked",
        "--partitions",
        "6",
        "--replication-factor",
        "2",
    ]);
    let d = wait_for(&nodes[0], "six partitions with two replicas in sync", |d| {
        let isrs = isrs(d, "racked");
        isrs.len() == 6 && isrs.values().all(|isr| isr.len() == 2)
    });
    for (p, isr) in isrs(&d, "racked") {
        assert!(
            isr.contains(&2),
            "partition {p} on {isr:?}: one replica on rack b"
        );
    }
    let led: BTreeSet<i64> = leaders(&d, "racked").values().map(|(l, _)| *l).collect();
    assert_eq!(led, BTreeSet::from([0, 1, 2]), "leaders still spread: {d}");
}

/// The `.log` files of a partition's directory.
fn segments(data_dir: &Path, topic: &str, partition: i64) -> usize {
    std::fs::read_dir(data_dir.join(format!("{topic}-{partition}")))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count()
}

#[test]
fn followers_roll_segments_fetch_in_bounded_pieces_and_survive_a_kill_midway() {
    let dir = tempfile::tempdir().unwrap();
    // 1 MiB segments and 64 KiB follower fetches: about 5 MiB per partition crosses several
    // segment rolls, many index entries and about 80 fetches per follower and partition.
    let mut nodes = start_cluster_with(
        dir.path(),
        &format!("{REPLICATION_CONFIG}replica_fetch_max_bytes = 65536\n"),
    );
    wait_for(&nodes[0], "three live brokers", |d| brokers(d) == [0, 1, 2]);
    create_replicated(
        &nodes[0],
        "rolled",
        2,
        &["segment.bytes=1048576", "min.insync.replicas=2"],
    );
    wait_for(&nodes[0], "every replica in sync", |d| {
        all_in_sync(d, "rolled", 2)
    });
    let d = describe(&nodes[0]);
    let controller = d["controller"].as_i64().unwrap() as usize;
    let leader0 = leaders(&d, "rolled")[&0].0 as usize;
    // A follower of partition 0 that is not the controller quorum's leader.
    let victim = (0..3)
        .find(|n| *n != leader0 && *n != controller)
        .unwrap_or((leader0 + 1) % 3);
    let bootstrap: Vec<String> = nodes.iter().map(|n| n.bootstrap()).collect();
    let bootstrap = bootstrap.join(",");
    const COUNT: u64 = 10_000;
    let producer = spawn_producer("confluent", &bootstrap, "rolled", COUNT, "r", 1000);
    let mut probe = raw::RawConn::connect(nodes[leader0].addr);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while probe.latest_offset("rolled", 0) < COUNT as i64 / 6 {
        assert!(std::time::Instant::now() < deadline, "no load");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Mid-load, with segments already rolled: the follower is SIGKILLed and comes back, and
    // catches up from where its recovered log ends.
    nodes[victim].kill_and_restart();
    let out = producer.wait_with_output().unwrap();
    assert!(out.status.success(), "the producer: {}", output_text(&out));
    let d = wait_for(
        &nodes[leader0],
        "the returning follower in every ISR",
        |d| all_in_sync(d, "rolled", 2),
    );
    let led = leaders(&d, "rolled");
    let ends: Vec<i64> = (0..2)
        .map(|p| {
            let leader = led[&p].0 as usize;
            raw::RawConn::connect(nodes[leader].addr).latest_offset("rolled", p as i32)
        })
        .collect();
    for n in nodes.iter_mut() {
        n.stop();
    }
    let mut total = 0;
    for p in 0..2 {
        let logs: Vec<Vec<u8>> = (0..3)
            .map(|n| log_bytes(&dir.path().join(format!("node{n}")), "rolled", p))
            .collect();
        assert!(
            logs.iter().all(|l| *l == logs[0]),
            "partition {p}: replicas differ ({:?} bytes)",
            logs.iter().map(Vec::len).collect::<Vec<_>>()
        );
        for n in 0..3 {
            let count = segments(&dir.path().join(format!("node{n}")), "rolled", p);
            assert!(
                count >= 3,
                "node {n}, partition {p}: {count} segments ({} bytes)",
                logs[0].len()
            );
        }
        total += ends[p as usize];
    }
    assert_eq!(total as u64, COUNT, "every acknowledged record, once");
}

#[test]
fn a_restarted_leader_starts_at_its_checkpointed_high_watermark_while_its_followers_are_away() {
    let dir = tempfile::tempdir().unwrap();
    // Sessions and the lag bound long enough that paused followers stay registered and in sync
    // for the test's few seconds; checkpoints every 200 ms.
    let nodes_config = "broker_session_timeout_ms = 20000\nreplica_lag_time_max_ms = 20000\n\
                        replica_high_watermark_checkpoint_interval_ms = 200\n";
    let mut nodes = start_cluster_with(dir.path(), nodes_config);
    wait_for(&nodes[0], "three live brokers", |d| brokers(d) == [0, 1, 2]);
    create_replicated(&nodes[0], "kept", 3, &[]);
    let d = wait_for(&nodes[0], "every replica in sync", |d| {
        all_in_sync(d, "kept", 3)
    });
    let controller = d["controller"].as_i64().unwrap();
    let (partition, leader) = leaders(&d, "kept")
        .into_iter()
        .map(|(p, (l, _))| (p, l))
        .find(|(_, l)| *l != controller)
        .expect("a partition led by a broker that is not the controller's leader");
    let leader = leader as usize;
    produce(&nodes[0], "confluent", "kept", 3_000, "k");
    let mut c = raw::RawConn::connect(nodes[leader].addr);
    let end = c.latest_offset("kept", partition as i32);
    assert!(end > 0, "records on partition {partition}");
    // A few checkpoints later, the followers stop fetching and the leader is SIGKILLed.
    std::thread::sleep(Duration::from_millis(800));
    let followers: Vec<i32> = (0..3)
        .filter(|n| *n != leader)
        .map(|n| nodes[n].pid().expect("running") as i32)
        .collect();
    for pid in &followers {
        // SAFETY: kill(2) on a child process of this test; no memory is involved.
        assert_eq!(unsafe { libc::kill(*pid, libc::SIGSTOP) }, 0);
    }
    nodes[leader].kill_and_restart();
    // Nobody can tell the restarted leader what its followers have: it starts from the
    // checkpoint, not from its log start (consumers would see an empty partition).
    let mut c = raw::RawConn::connect(nodes[leader].addr);
    let after = c.latest_offset("kept", partition as i32);
    for pid in &followers {
        // SAFETY: as above.
        assert_eq!(unsafe { libc::kill(*pid, libc::SIGCONT) }, 0);
    }
    assert_eq!(after, end, "the high watermark after the restart");
    let got = read_all(&nodes[leader], "kept", 3_000);
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), 3_000);
}

/// A group's state and member ids as DescribeGroups shows them on `broker`.
fn describe_group(broker: &BrokerProcess, group: &str) -> (String, Vec<String>) {
    use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, GroupId, ResponseKind};
    let mut c = raw::RawConn::connect(broker.addr);
    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(
        kafka_protocol::protocol::StrBytes::from_string(group.to_string()),
    )]);
    match c.request(ApiKey::DescribeGroups, 0, &req) {
        ResponseKind::DescribeGroups(r) => {
            let g = &r.groups[0];
            (
                g.group_state.to_string(),
                g.members.iter().map(|m| m.member_id.to_string()).collect(),
            )
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_group_goes_on_without_a_rebalance_when_its_coordinator_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start_cluster_with(
        dir.path(),
        &format!("{REPLICATION_CONFIG}group_initial_rebalance_delay_ms = 0\n"),
    );
    wait_for(&nodes[0], "three live brokers", |d| brokers(d) == [0, 1, 2]);
    create_replicated(&nodes[0], "steady", 4, &[]);
    wait_for(&nodes[0], "every replica in sync", |d| {
        all_in_sync(d, "steady", 4)
    });
    produce(&nodes[0], "confluent", "steady", 2_000, "before");
    let group = "steady-group";
    let victim = coordinator_of(&nodes[0], group);
    wait_for(&nodes[0], "the offsets topic in sync", |d| {
        all_in_sync(d, "__consumer_offsets", 50)
    });
    let bootstrap: Vec<String> = nodes.iter().map(|n| n.bootstrap()).collect();
    let member = Command::new(python())
        .arg(script())
        .args(["member", "--bootstrap", &bootstrap.join(",")])
        .args(["--group", group, "--topic", "steady", "--expect", "4000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    // Settled: one member, Stable (its membership written to the offsets topic on the way).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let member_id = loop {
        let (state, members) = describe_group(&nodes[victim], group);
        if state == "Stable" && members.len() == 1 {
            break members[0].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the group never settled: {state}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(500));
    nodes[victim].kill();
    let survivor = (victim + 1) % 3;
    produce(&nodes[survivor], "confluent", "steady", 2_000, "after");
    // While the member still runs: the new coordinator has the group as it was, the same
    // member, Stable.
    let now = coordinator_of(&nodes[survivor], group);
    assert_ne!(now, victim);
    let (state, members) = describe_group(&nodes[now], group);
    let out = member.wait_with_output().unwrap();
    assert!(out.status.success(), "the member: {}", output_text(&out));
    let got: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", output_text(&out)));
    assert_eq!((state.as_str(), members), ("Stable", vec![member_id]));
    assert!(got["read"].as_i64().unwrap() >= 4_000, "{got}");
    assert_eq!(
        (
            got["assigned"].as_i64(),
            got["revoked"].as_i64(),
            got["lost"].as_i64()
        ),
        (Some(1), Some(0), Some(0)),
        "one assignment, never taken away: {got}"
    );
}
