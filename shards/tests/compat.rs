//! Kafka behaviours that real clients rely on (issue 13's second compatibility pass), each
//! checked through librdkafka (confluent-kafka) or kafka-python by `interop/compat.py`.

mod common;
#[path = "common/raw.rs"]
mod raw;

use std::process::Command;

use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{ApiKey, IncrementalAlterConfigsRequest, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use raw::RawConn;

use common::*;

/// Runs one case of compat.py against a fresh broker; panics with the script's output if it
/// fails.
fn check(case: &str) {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(&dir.path().join("data"));
    run(&broker, case);
}

/// Runs one case of compat.py against `broker`.
fn run(broker: &BrokerProcess, case: &str) {
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

/// The segment files (`.log`) in a partition's directory.
fn segment_files(partition_dir: &std::path::Path) -> usize {
    std::fs::read_dir(partition_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .count()
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

#[test]
fn every_kafka_topic_config_is_accepted_checked_described_and_altered_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start(&dir.path().join("data"));
    run(&broker, "topic_configs");
    broker.restart();
    run(&broker, "topic_configs_after_restart");
}

#[test]
fn compaction_log_append_time_and_compression_type_change_what_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start(&dir.path().join("data"));
    run(&broker, "topic_configs_that_change_behaviour");
    // A stopped broker's segments hold exactly their batches (an active one is allocated
    // ahead of its writes: `preallocate_bytes`).
    broker.stop();
    // 2,000 records of 1,200 bytes were sent uncompressed; the topic stores them with zstd.
    let stored: u64 = std::fs::read_dir(broker.data_dir.join("squeezed-0"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(
        stored > 0 && stored < 2_400_000 / 10,
        "{stored} bytes stored for 2,400,000 sent"
    );
}

#[test]
fn valid_manual_replica_assignments_are_accepted_and_invalid_ones_named() {
    check("replica_assignment");
}

#[test]
fn delete_records_moves_the_log_start_frees_whole_segments_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start(&dir.path().join("data"));
    run(&broker, "delete_records");
    // 3,000 records in 64 KiB segments: those wholly below offset 2,500 are gone.
    let left = segment_files(&broker.data_dir.join("dr-0"));
    assert!((1..=2).contains(&left), "{left} segments left");
    broker.restart();
    run(&broker, "delete_records_after_restart");
}

#[test]
fn describe_log_dirs_and_describe_producers_answer_what_admin_tools_ask() {
    check("describe_log_dirs_and_producers");
}

#[test]
fn a_member_commits_while_the_group_prepares_a_rebalance() {
    check("commit_during_rebalance");
}

#[test]
fn kafka_python_sees_a_replaced_static_member_fenced() {
    check("static_member_fenced_kafka_python");
}

#[test]
fn clients_speaking_message_formats_v0_and_v1_produce_consume_and_commit() {
    check("old_message_formats");
}

/// Old-format records cross segment rolls (64 KiB segments; 20,000 lz4-compressed records make
/// a few per partition) and a restart, and read back through down-conversion (decompressing)
/// from sealed segments.
#[test]
fn old_format_records_read_back_across_segment_rolls_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start_with(
        &dir.path().join("data"),
        "[log]\nsegment_bytes = 65536\nmax_message_bytes = 65536\n",
    );
    run(&broker, "old_format_before_restart");
    let segments = segment_files(&broker.data_dir.join("old-restart-0"));
    assert!(segments >= 3, "{segments} segments");
    broker.restart();
    run(&broker, "old_format_after_restart");
}

#[test]
fn the_brokers_log_settings_change_while_it_runs_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start(&dir.path().join("data"));
    run(&broker, "broker_dynamic_configs");
    // 1.2 MB written after log.segment.bytes became 128 KiB: about nine segments, where the
    // file's 1 GiB would have made one.
    let segments = segment_files(&broker.data_dir.join("dyn-a-0"));
    assert!(segments >= 8, "{segments} segments");
    // Names neither client sends: "" (the cluster-wide default, kafka-configs.sh
    // --entity-default) is this broker's; another broker's id is refused.
    let mut c = RawConn::connect(broker.addr);
    let alter = |name: &'static str| {
        IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(StrBytes::from_static_str(name))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(StrBytes::from_static_str("log.retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_static_str("10800000")))]),
        ])
    };
    for (name, expected) in [("", 0), ("7", 42)] {
        match c.request(ApiKey::IncrementalAlterConfigs, 1, &alter(name)) {
            ResponseKind::IncrementalAlterConfigs(r) => {
                assert_eq!(
                    r.responses[0].error_code, expected,
                    "broker {name:?}: {r:?}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
    broker.restart();
    run(&broker, "broker_dynamic_configs_after_restart");
}
