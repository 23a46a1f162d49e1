//! Three brokers, one cluster (issue 14): each a 2-shard `strata` process on 127.0.0.1 with its
//! own port, controller port and data directory, all three voters of the controller quorum.
//! Driven by clients nobody here wrote (confluent-kafka on librdkafka, kafka-python) through
//! `interop/cluster.py` and `interop/group_consumer.py`.

mod common;
#[path = "common/raw.rs"]
mod raw;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::*;
use common::*;

#[test]
fn three_brokers_spread_a_topic_and_a_group_reads_every_record_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(dir.path());
    wait_for(&nodes[0], "three live brokers", |d| brokers(d) == [0, 1, 2]);
    create(&nodes[1], "orders", 12);
    let d = wait_for(&nodes[2], "12 partitions led", |d| {
        leaders(d, "orders").len() == 12
    });
    let led: BTreeSet<i64> = leaders(&d, "orders").values().map(|(l, _)| *l).collect();
    assert_eq!(led, BTreeSet::from([0, 1, 2]), "{d}");
    // 100,000 records from two clients, each through another broker.
    const EACH: u64 = 50_000;
    produce(&nodes[0], "confluent", "orders", EACH, "rdkafka");
    produce(&nodes[2], "kafka-python", "orders", EACH, "kafkapython");
    let stop = dir.path().join("stop");
    let outs: Vec<PathBuf> = (0..2)
        .map(|i| dir.path().join(format!("member{i}.out")))
        .collect();
    let _members = [
        group_member(
            &nodes[0],
            "confluent",
            "cluster-group",
            "orders",
            &outs[0],
            &stop,
            &[],
        ),
        group_member(
            &nodes[1],
            "kafka-python",
            "cluster-group",
            "orders",
            &outs[1],
            &stop,
            &[],
        ),
    ];
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let values: BTreeSet<String> = member_outputs(&outs)
            .into_iter()
            .flatten()
            .map(|(_, _, v)| v)
            .collect();
        if values.len() as u64 == 2 * EACH {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the group read {} distinct records of {}",
            values.len(),
            2 * EACH
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::fs::write(&stop, b"").unwrap();
    // Across members, each partition's offsets hold one record each, from 0 without a gap,
    // and each producer's records are in the order it sent them.
    let mut by_partition: BTreeMap<i32, BTreeMap<i64, String>> = BTreeMap::new();
    for (p, o, v) in member_outputs(&outs).into_iter().flatten() {
        let before = by_partition.entry(p).or_default().insert(o, v.clone());
        assert!(
            before.is_none_or(|b| b == v),
            "partition {p} offset {o}: two records"
        );
    }
    assert_eq!(by_partition.len(), 12);
    let mut total = 0;
    for (p, records) in &by_partition {
        let offsets: Vec<i64> = records.keys().copied().collect();
        assert_eq!(
            offsets,
            (0..records.len() as i64).collect::<Vec<_>>(),
            "partition {p}"
        );
        total += records.len() as u64;
        assert_producer_order(records.values().map(|v| (*p, v.clone())));
    }
    assert_eq!(total, 2 * EACH);
}

/// `strata cluster describe --json` asked of `broker` (Metadata and DescribeQuorum).
fn strata_describe(broker: &BrokerProcess) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "cluster",
            "describe",
            "--json",
            "--bootstrap",
            &broker.bootstrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    serde_json::from_slice(&out.stdout).expect("describe prints JSON")
}

/// What every node must agree on: brokers, the controller, its epoch, the metadata offset and
/// every partition's leader (each node's own view of the voters' log ends aside).
fn agreed(d: &serde_json::Value) -> serde_json::Value {
    serde_json::json!([
        d["brokers"],
        d["controller"],
        d["leader_epoch"],
        d["metadata_offset"],
        d["topics"]
    ])
}

/// Waits until the three nodes describe the same cluster (`agreed`: brokers, controller, its
/// epoch, metadata offset, leaders), all three brokers live, and `done` holds for what clients
/// see from each node (`describe`); the nodes' own descriptions.
fn wait_until_the_nodes_agree(
    nodes: &[BrokerProcess],
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all: Vec<serde_json::Value> = nodes.iter().map(strata_describe).collect();
        let same = all.iter().all(|d| agreed(d) == agreed(&all[0]));
        let three = all[0]["brokers"].as_array().map(Vec::len) == Some(3);
        let by_clients: Vec<serde_json::Value> = nodes.iter().map(describe).collect();
        let seen_alike = by_clients
            .iter()
            .all(|d| d["topics"] == by_clients[0]["topics"]);
        if same && three && seen_alike && done(&by_clients) {
            return all;
        }
        assert!(Instant::now() < deadline, "the nodes disagree: {all:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The controller quorum's leader as `broker` knows it, once it knows one other than `not`
/// (DescribeQuorum).
fn controller(broker: &BrokerProcess, not: Option<usize>) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let leader = strata_describe(broker)["controller"].as_i64().unwrap_or(-1);
        if leader >= 0 && Some(leader as usize) != not {
            return leader as usize;
        }
        assert!(Instant::now() < deadline, "no controller");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_controller_leader_is_killed_another_takes_over_and_the_returning_node_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start_cluster(dir.path());
    wait_for(&nodes[0], "three live brokers", |d| brokers(d) == [0, 1, 2]);
    create(&nodes[0], "before", 6);
    let killed = controller(&nodes[0], None);
    nodes[killed].kill();
    let other = (killed + 1) % 3;
    let took = create(&nodes[other], "after", 6);
    eprintln!("CreateTopics succeeded {took:.3} s after the controller leader was killed");
    assert!(took < 15.0, "{took} s");
    let new = controller(&nodes[other], Some(killed));
    eprintln!("node {new} leads the controller quorum after node {killed}");
    nodes[killed].restart();
    // Once the killed node is back and unfenced, all three describe the same cluster.
    let all = wait_until_the_nodes_agree(&nodes, |by_clients| {
        leaders(&by_clients[0], "before").len() == 6
            && leaders(&by_clients[0], "after").len() == 6
            && leaders(&by_clients[0], "before")
                .values()
                .all(|(l, e)| *l >= 0 && e.is_none())
    });
    assert_eq!(all[0]["controller"].as_i64(), Some(new as i64));
}

#[test]
fn a_killed_broker_is_offline_meanwhile_and_serves_everything_acknowledged_after_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start_cluster(dir.path());
    wait_for(&nodes[0], "three live brokers", |d| brokers(d) == [0, 1, 2]);
    create(&nodes[0], "kept", 6);
    wait_for(&nodes[1], "6 partitions led", |d| {
        leaders(d, "kept").len() == 6
    });
    const RECORDS: u64 = 30_000;
    produce(&nodes[1], "confluent", "kept", RECORDS, "acked");
    let before: serde_json::Value = serde_json::from_str(&cluster_py(&[
        "read",
        "--bootstrap",
        &nodes[0].bootstrap(),
        "--topic",
        "kept",
        "--expect",
        &RECORDS.to_string(),
    ]))
    .unwrap();
    // Broker 2 leads two of the six partitions (placement spreads them evenly).
    nodes[2].kill();
    let d = wait_for(&nodes[0], "broker 2 fenced", |d| brokers(d) == [0, 1]);
    let offline: Vec<i64> = leaders(&d, "kept")
        .into_iter()
        .filter(|(_, (leader, _))| *leader == -1)
        .map(|(p, (_, error))| {
            assert_eq!(error.as_deref(), Some("LEADER_NOT_AVAILABLE"));
            p
        })
        .collect();
    assert_eq!(offline.len(), 2, "{d}");
    // Clients get retriable errors, never wrong data: LEADER_NOT_AVAILABLE for an offline
    // partition, NOT_LEADER_OR_FOLLOWER for one another live broker leads.
    let mut c = raw::RawConn::connect(nodes[0].addr);
    for p in &offline {
        let batch = strata_record::batch::build(&[b"while offline"], 1);
        assert_eq!(c.produce("kept", *p as i32, batch, 1).0, 5, "partition {p}");
    }
    let on_one = leaders(&d, "kept")
        .into_iter()
        .find(|(_, (leader, _))| *leader == 1)
        .map(|(p, _)| p as i32)
        .expect("broker 1 leads a partition");
    let batch = strata_record::batch::build(&[b"to the wrong broker"], 1);
    assert_eq!(c.produce("kept", on_one, batch, 1).0, 6);
    drop(c);
    nodes[2].restart();
    wait_for(&nodes[0], "every partition led again", |d| {
        brokers(d) == [0, 1, 2]
            && leaders(d, "kept")
                .values()
                .all(|(l, e)| *l >= 0 && e.is_none())
    });
    let after: serde_json::Value = serde_json::from_str(&cluster_py(&[
        "read",
        "--bootstrap",
        &nodes[1].bootstrap(),
        "--topic",
        "kept",
        "--expect",
        &RECORDS.to_string(),
    ]))
    .unwrap();
    assert_eq!(
        before, after,
        "what was acknowledged before the kill reads back the same"
    );
    let total: usize = after
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    assert_eq!(total as u64, RECORDS);
}

#[test]
fn a_broker_without_a_controller_joins_and_takes_new_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(dir.path());
    wait_for(&nodes[0], "three live brokers", |d| brokers(d) == [0, 1, 2]);
    let quorum = quorum_of(&nodes);
    let added = BrokerProcess::start_with(
        &dir.path().join("node3"),
        &format!(
            "node_id = 3\nbroker_only = true\ncontroller_quorum = \"{quorum}\"\n{CLUSTER_CONFIG}"
        ),
    );
    wait_for(&nodes[0], "four live brokers", |d| {
        brokers(d) == [0, 1, 2, 3]
    });
    create(&added, "wider", 8);
    let d = wait_for(&added, "8 partitions led", |d| {
        leaders(d, "wider").len() == 8
    });
    let on_new = leaders(&d, "wider")
        .values()
        .filter(|(l, _)| *l == 3)
        .count();
    assert_eq!(on_new, 2, "the new broker leads its share: {d}");
    produce(&added, "confluent", "wider", 8_000, "spread");
    let read: serde_json::Value = serde_json::from_str(&cluster_py(&[
        "read",
        "--bootstrap",
        &nodes[1].bootstrap(),
        "--topic",
        "wider",
        "--expect",
        "8000",
    ]))
    .unwrap();
    let total: usize = read
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    assert_eq!(total, 8_000);
}

#[test]
fn without_a_quorum_a_broker_says_so_and_refuses_topic_changes_until_one_forms() {
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let quorum: Vec<String> = (0..3)
        .map(|n| format!("{n}@127.0.0.1:{}", ports[n]))
        .collect();
    let quorum = quorum.join(",");
    let start = |n: usize| {
        BrokerProcess::start_with(
            &dir.path().join(format!("node{n}")),
            &format!("node_id = {n}\ncontroller_quorum = \"{quorum}\"\n{CLUSTER_CONFIG}"),
        )
    };
    let alone = start(0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !alone.log_text().contains("still trying") {
        assert!(Instant::now() < deadline, "{}", alone.log_text());
        std::thread::sleep(Duration::from_millis(200));
    }
    let refused = Command::new(python())
        .arg(script())
        .args(["create", "--bootstrap", &alone.bootstrap(), "--topic", "t"])
        .args(["--partitions", "1", "--within", "3"])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "{}", output_text(&refused));
    let _others = [start(1), start(2)];
    create(&alone, "t", 1);
    wait_for(&alone, "three live brokers", |d| brokers(d) == [0, 1, 2]);
}

/// The quorum string the nodes were started with (from the first's config file).
fn quorum_of(nodes: &[BrokerProcess]) -> String {
    let config = std::fs::read_to_string(nodes[0].data_dir.with_extension("toml")).unwrap();
    config
        .lines()
        .find_map(|l| l.strip_prefix("controller_quorum = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a quorum in the config")
        .to_string()
}

#[test]
fn a_node_that_missed_what_the_others_snapshotted_catches_up_from_their_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    // A snapshot every 3 entries: the log the stopped node lacks is gone from the others.
    let mut nodes = start_cluster_with(dir.path(), "metadata_snapshot_every_entries = 3\n");
    wait_for(&nodes[0], "three live brokers", |d| brokers(d) == [0, 1, 2]);
    nodes[2].kill();
    for i in 0..8 {
        create(&nodes[0], &format!("while-away-{i}"), 2);
    }
    nodes[2].restart();
    wait_until_the_nodes_agree(&nodes, |by_clients| {
        by_clients[0]["topics"].as_object().map(|t| t.len()) == Some(8)
    });
    assert!(
        nodes[2]
            .log_text()
            .contains("installing the controller leader's metadata snapshot"),
        "caught up without a snapshot: the test did not test it"
    );
    // And it restarts from its own snapshot.
    nodes[2].restart();
    wait_for(&nodes[2], "node 2 back", |d| brokers(d) == [0, 1, 2]);
    let d = describe(&nodes[2]);
    assert_eq!(d["topics"].as_object().unwrap().len(), 8, "{d}");
}
