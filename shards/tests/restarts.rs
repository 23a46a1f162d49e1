//! Restarts at the sizes users run: 8 partitions x 200,000 records through librdkafka
//! (idempotent, acks=all), written in five parts with a broker restart after each (SIGTERM and
//! SIGKILL in turn). After every restart every record reads back from the beginning, in order,
//! and from random offsets. Each partition grows to ~14 MiB: several blocks of offset and time
//! index entries in the active segment with the default settings, and many sealed segments with
//! small ones.

mod common;

use common::*;

const PARTITIONS: u64 = 8;
const RECORDS: u64 = PARTITIONS * 200_000;
const PARTS: u64 = 5;

fn produce_restart_and_read_back(extra_config: &str, topic: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start_with(&dir.path().join("data"), extra_config);
    let partitions = PARTITIONS.to_string();
    for part in 0..PARTS {
        let start = (RECORDS * part / PARTS).to_string();
        let end = RECORDS * (part + 1) / PARTS;
        let records = end.to_string();
        let common = [
            "--client",
            "confluent",
            "--topic",
            topic,
            "--partitions",
            &partitions,
            "--records",
            &records,
        ];
        let mut args = common.to_vec();
        args.extend(["--phase", "produce", "--start", &start, "--idempotent"]);
        roundtrip(&broker.bootstrap(), &args);
        if part % 2 == 0 {
            broker.restart();
        } else {
            broker.kill_and_restart();
        }
        let mut args = common.to_vec();
        args.extend(["--phase", "consume"]);
        let out = roundtrip(&broker.bootstrap(), &args);
        assert!(out.contains(&format!("ok: {end} records")), "{out}");
        let seed = (part + 1).to_string();
        let mut args = common.to_vec();
        args.extend(["--phase", "seek", "--seeks", "12", "--seed", &seed]);
        let out = roundtrip(&broker.bootstrap(), &args);
        assert!(out.contains("reads at random offsets"), "{out}");
        println!("part {part}: {end} records read back after a restart");
    }
    let log = broker.log_text();
    assert!(
        !log.contains("rebuilding it from the log"),
        "an index was found damaged:\n{log}"
    );
    broker.stop();
}

#[test]
fn every_record_reads_back_after_restarts_with_default_segments() {
    produce_restart_and_read_back("", "restarts-default");
}

#[test]
fn every_record_reads_back_after_restarts_with_small_segments() {
    produce_restart_and_read_back("[log]\nsegment_bytes = 1048576\n", "restarts-small");
}
