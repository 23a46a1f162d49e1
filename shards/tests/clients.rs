//! Client families nobody on the team wrote, against a fresh broker each: kafkajs (npm, pinned
//! in tests/interop/js/package-lock.json), and the Go clients sarama and segmentio/kafka-go
//! (Debian's packages, built in GOPATH mode into tests/interop/go/bin). scripts/install-clients.sh
//! (run by scripts/test.sh) installs and builds them; a missing one fails the test, never skips.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// `node` from PATH.
fn node() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("node"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("node is missing: run ./scripts/test.sh, which installs it (scripts/install-clients.sh)")
    })
}

/// The kafkajs check script, with its node_modules installed.
fn kafkajs_script() -> PathBuf {
    let js = interop_dir().join("js");
    assert!(
        js.join("node_modules/kafkajs/package.json").exists(),
        "kafkajs is missing from {}: run ./scripts/test.sh, which installs it \
         (scripts/install-clients.sh runs npm ci there)",
        js.join("node_modules").display()
    );
    js.join("kafkajs_check.js")
}

/// A Go check built by scripts/install-clients.sh.
fn go_check(name: &str) -> PathBuf {
    let p = interop_dir().join("go/bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: run ./scripts/test.sh, which builds it (scripts/install-clients.sh)",
        p.display()
    );
    p
}

/// Runs `command --bootstrap ADDR args…` against a fresh broker and asserts that it exits 0
/// and prints `ok: {ok}`; on failure prints its output and the broker's log.
fn run_check(what: &str, mut command: Command, args: &[&str], ok: &str) {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(&dir.path().join("data"));
    let started = std::time::Instant::now();
    let out = command
        .args(["--bootstrap", &broker.bootstrap()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    let text = output_text(&out);
    println!("{what}: {:.1} s\n{text}", started.elapsed().as_secs_f64());
    assert!(
        out.status.success() && text.lines().any(|l| l.starts_with(&format!("ok: {ok}"))),
        "{what} failed ({}):\n{text}\nbroker log:\n{}",
        out.status,
        broker.log_text()
    );
}

fn kafkajs(case: &str) {
    let mut command = Command::new(node());
    command.arg(kafkajs_script());
    run_check(&format!("kafkajs {case}"), command, &[case], case);
}

/// 20,000 records from an idempotent producer (sendBatch) into 4 partitions, read by a group
/// of two consumers exactly once and in partition order; the commits end at the log end, so a
/// fresh member reads nothing.
#[test]
fn kafkajs_group_of_two_reads_an_idempotent_producers_records_exactly_once() {
    kafkajs("roundtrip");
}

/// 50 OffsetCommits for one partition in flight at once on one connection: the last one wins.
#[test]
fn kafkajs_pipelined_commits_are_applied_in_request_order() {
    kafkajs("pipelined_commits");
}

/// CreateTopics with a replica assignment, DescribeCluster, Describe/AlterConfigs, ListOffsets
/// by a timestamp inside a batch, DeleteRecords, DescribeGroups, DeleteGroups.
#[test]
fn kafkajs_admin_calls_give_kafkas_answers() {
    kafkajs("admin");
}

/// Compacted topics refuse keyless records, LogAppendTime topics stamp them (in the produce
/// answer and in what consumers read), and setOffsets on an unknown topic is refused.
#[test]
fn kafkajs_sees_topic_config_rules_and_unknown_topic_commits_refused() {
    kafkajs("topic_rules");
}

/// sarama 1.22 (Debian): ClusterAdmin, idempotent SyncProducer, ConsumerGroup of two members,
/// committed offsets read back with ListConsumerGroupOffsets and by a fresh member.
/// A kafkajs member commits what it read when its heartbeat reports a rebalance: the group is
/// preparing the rebalance, and Kafka accepts commits then.
#[test]
fn kafkajs_commits_while_the_group_prepares_a_rebalance() {
    kafkajs("commit_during_rebalance");
}

#[test]
fn sarama_group_of_two_reads_an_idempotent_producers_records_exactly_once() {
    run_check(
        "saramacheck",
        Command::new(go_check("saramacheck")),
        &[],
        "sarama",
    );
}

/// kafka-go 0.2.1 (Debian): CreateTopics, Writer, two group Readers with synchronous commits,
/// and a fresh Reader of the group that starts at the committed offsets. It speaks only old
/// versions (CreateTopics v0, Produce and Fetch v2 with message format v1), served through
/// `strata_shards::legacy`.
#[test]
fn kafka_go_group_of_two_reads_a_writers_records_exactly_once() {
    run_check(
        "kafkagocheck",
        Command::new(go_check("kafkagocheck")),
        &[],
        "kafka-go",
    );
}
