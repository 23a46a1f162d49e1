//! Kafka behaviours that real clients rely on (issue 13's second compatibility pass), each
//! checked through librdkafka (confluent-kafka) or kafka-python by `interop/compat.py`.

mod common;

use std::process::Command;

use common::*;

/// Runs one case of compat.py against a fresh broker; panics with the script's output if it
/// fails.
fn check(case: &str) {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(&dir.path().join("data"));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/compat.py");
    let out = Command::new(python())
        .arg(script)
        .args(["--bootstrap", &broker.bootstrap(), case])
        .output()
        .unwrap();
    let text = output_text(&out);
    assert!(
        out.status.success() && text.contains(&format!("ok: {case}")),
        "{case}: {text}\nbroker log:\n{}",
        broker.log_text()
    );
}

#[test]
fn pipelined_async_commits_are_applied_in_request_order() {
    check("pipelined_commits");
}

#[test]
fn commits_to_an_unknown_topic_are_refused_per_partition() {
    check("commit_to_unknown_topic");
}

#[test]
fn a_replaced_static_member_is_fenced_instead_of_displacing_its_successor() {
    check("static_member_fenced");
}

#[test]
fn list_offsets_finds_the_record_at_a_timestamp_inside_a_batch_and_the_max_timestamp() {
    check("list_offsets_by_timestamp");
}

#[test]
fn describe_groups_shows_each_members_client_id_and_host() {
    check("describe_groups_members");
}

#[test]
fn metadata_and_describe_cluster_give_authorized_operations_when_asked() {
    check("authorized_operations");
}

#[test]
fn offset_delete_refuses_subscribed_topics_partition_by_partition() {
    check("offset_delete_per_partition");
}
