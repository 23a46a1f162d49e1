//! Helpers of the multi-broker tests (`cluster.rs`, `replication.rs`): three `strata`
//! processes on 127.0.0.1, one cluster, driven through `interop/cluster.py`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;

/// Short sessions, so that a killed broker is fenced within seconds.
pub const CLUSTER_CONFIG: &str =
    "broker_heartbeat_interval_ms = 300\nbroker_session_timeout_ms = 2500\n";

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/cluster.py")
}

/// Runs `cluster.py` with `args`; its stdout, or a panic with its output.
pub fn cluster_py(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(script())
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "cluster.py {args:?}: {}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// CLUSTER_CONFIG less the settings `extra` names (TOML refuses a key twice).
fn cluster_config_without(extra: &str) -> String {
    let named = |line: &str| {
        line.split(" =")
            .next()
            .map(str::trim)
            .unwrap_or("")
            .to_string()
    };
    let overridden: Vec<String> = extra.lines().map(named).collect();
    CLUSTER_CONFIG
        .lines()
        .filter(|l| !overridden.contains(&named(l)))
        .map(|l| format!("{l}\n"))
        .collect()
}

pub fn start_cluster(dir: &Path) -> Vec<BrokerProcess> {
    start_cluster_with(dir, "")
}

pub fn start_cluster_with(dir: &Path, extra: &str) -> Vec<BrokerProcess> {
    start_cluster_each(dir, |_| extra.to_string())
}

/// As `start_cluster_with`, each node with its own extra TOML (a setting of CLUSTER_CONFIG that
/// it names again is taken from it).
pub fn start_cluster_each(dir: &Path, extra: impl Fn(usize) -> String) -> Vec<BrokerProcess> {
    let quorum: Vec<String> = (0..3)
        .map(|n| format!("{n}@127.0.0.1:{}", free_port()))
        .collect();
    let quorum = quorum.join(",");
    (0..3)
        .map(|n| {
            BrokerProcess::start_with(
                &dir.join(format!("node{n}")),
                &format!(
                    "node_id = {n}\ncontroller_quorum = \"{quorum}\"\n{}{}",
                    cluster_config_without(&extra(n)),
                    extra(n)
                ),
            )
        })
        .collect()
}

pub fn describe(broker: &BrokerProcess) -> serde_json::Value {
    serde_json::from_str(&cluster_py(&[
        "describe",
        "--bootstrap",
        &broker.bootstrap(),
    ]))
    .expect("describe prints JSON")
}

/// Waits until `check` holds for what `broker` describes; the description.
pub fn wait_for(
    broker: &BrokerProcess,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = describe(broker);
        if check(&d) {
            return d;
        }
        assert!(Instant::now() < deadline, "{what}: never; last {d}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn brokers(d: &serde_json::Value) -> Vec<i64> {
    d["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_i64().unwrap())
        .collect()
}

/// Partition -> (leader, error name) of `topic`.
pub fn leaders(d: &serde_json::Value, topic: &str) -> BTreeMap<i64, (i64, Option<String>)> {
    d["topics"][topic]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    (
                        p[0].as_i64().unwrap(),
                        (p[1].as_i64().unwrap(), p[2].as_str().map(str::to_string)),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn create(broker: &BrokerProcess, topic: &str, partitions: i32) -> f64 {
    cluster_py(&[
        "create",
        "--bootstrap",
        &broker.bootstrap(),
        "--topic",
        topic,
        "--partitions",
        &partitions.to_string(),
    ])
    .parse()
    .expect("seconds")
}

pub fn produce(broker: &BrokerProcess, client: &str, topic: &str, count: u64, prefix: &str) {
    cluster_py(&[
        "produce",
        "--client",
        client,
        "--bootstrap",
        &broker.bootstrap(),
        "--topic",
        topic,
        "--count",
        &count.to_string(),
        "--prefix",
        prefix,
    ]);
}

/// Each producer's records, within every partition, in the order it sent them.
pub fn assert_producer_order(records: impl Iterator<Item = (i32, String)>) {
    let mut last: BTreeMap<(i32, String), u64> = BTreeMap::new();
    for (partition, value) in records {
        let (prefix, seq) = value.rsplit_once('-').expect("prefix-seq");
        let seq: u64 = seq.parse().expect("a sequence number");
        if let Some(before) = last.insert((partition, prefix.to_string()), seq) {
            assert!(
                seq > before,
                "partition {partition}: {prefix} record {seq} after {before}"
            );
        }
    }
}
