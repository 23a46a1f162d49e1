//! Interoperability with clients nobody here wrote: librdkafka (through confluent-kafka and
//! kcat) and kafka-python, each producing and consuming 100,000 records over 8 partitions, the
//! content and per-partition order of every record checked.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

#[test]
fn kafka_python_produces_and_consumes_100k_records() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(&dir.path().join("data"));
    let out = roundtrip(
        &broker.bootstrap(),
        &[
            "--client",
            "kafka-python",
            "--topic",
            "kp",
            "--records",
            "100000",
        ],
    );
    assert!(out.contains("ok: 100000 records"), "{out}");
}

#[test]
fn librdkafka_produces_and_consumes_100k_records_with_each_codec() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(&dir.path().join("data"));
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("rd-{codec}");
        let out = roundtrip(
            &broker.bootstrap(),
            &[
                "--client",
                "confluent",
                "--topic",
                &topic,
                "--records",
                "100000",
                "--compression",
                codec,
            ],
        );
        assert!(out.contains("ok: 100000 records"), "{codec}: {out}");
        // The codec was really used: the first stored batch of a partition carries its bits.
        let expected = ["none", "gzip", "snappy", "lz4", "zstd"]
            .iter()
            .position(|c| *c == codec)
            .unwrap() as u8;
        let log = std::fs::read_dir(broker.data_dir.join(format!("{topic}-0")))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "log"))
            .unwrap();
        let head = std::fs::read(&log).unwrap();
        assert!(
            head.len() >= 23,
            "{codec}: {} bytes in {}",
            head.len(),
            log.display()
        );
        assert_eq!(
            head[22] & 7,
            expected,
            "{codec}: codec bits of the first batch"
        );
    }
}

#[test]
fn kcat_produces_and_consumes_100k_records() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start_with(&dir.path().join("data"), "default_partitions = 8\n");
    let b = broker.bootstrap();
    // Keyed records: librdkafka's partitioner spreads them over the 8 auto-created partitions.
    let mut producer = Command::new(kcat())
        .args(["-b", &b, "-P", "-t", "kc", "-K", ":", "-X", "linger.ms=5"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = std::io::BufWriter::new(producer.stdin.take().unwrap());
        for i in 0..100_000u32 {
            writeln!(stdin, "key{}:value-{i}", i % 997).unwrap();
        }
    }
    assert!(producer.wait().unwrap().success());
    let out = Command::new(kcat())
        .args([
            "-b",
            &b,
            "-C",
            "-t",
            "kc",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%p %o %k %s\n",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut by_partition: BTreeMap<u32, Vec<(u64, u32, u32)>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let key: u32 = f[2].trim_start_matches("key").parse().unwrap();
        let seq: u32 = f[3].trim_start_matches("value-").parse().unwrap();
        by_partition
            .entry(f[0].parse().unwrap())
            .or_default()
            .push((f[1].parse().unwrap(), key, seq));
    }
    assert_eq!(by_partition.len(), 8, "records spread over all partitions");
    let mut all = Vec::new();
    for (p, records) in &by_partition {
        for (i, (offset, key, seq)) in records.iter().enumerate() {
            assert_eq!(*offset, i as u64, "partition {p}: offsets in order");
            assert_eq!(*key, seq % 997, "partition {p}: key matches value");
        }
        assert!(
            records.windows(2).all(|w| w[0].2 < w[1].2),
            "partition {p}: sent order kept"
        );
        all.extend(records.iter().map(|r| r.2));
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (0..100_000).collect::<Vec<_>>(),
        "every record exactly once"
    );
}

#[test]
fn a_restart_in_the_middle_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start(&dir.path().join("data"));
    let b = broker.bootstrap();
    let common = ["--client", "confluent", "--topic", "rs", "--records"];
    // First half acknowledged (acks=all), then a clean restart.
    roundtrip(
        &b,
        &[
            &common[..],
            &["50000", "--acks", "all", "--phase", "produce"],
        ]
        .concat(),
    );
    broker.restart();
    // Second half, then a crash (SIGKILL) after acks=all, then everything is read back.
    roundtrip(
        &b,
        &[
            &common[..],
            &[
                "100000", "--start", "50000", "--acks", "all", "--phase", "produce",
            ],
        ]
        .concat(),
    );
    broker.kill();
    broker.restart();
    let out = roundtrip(
        &b,
        &[&common[..], &["100000", "--phase", "consume"]].concat(),
    );
    assert!(out.contains("ok: 100000 records"), "{out}");
}

#[test]
fn topic_administration_with_real_admin_clients() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start(&dir.path().join("data"));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/admin.py");
    let out = Command::new(python())
        .arg(script)
        .args(["--bootstrap", &broker.bootstrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("ok: admin operations"),
        "{text}"
    );
    // Deleted topics leave no partition directories behind; the table survives a restart.
    broker.restart();
    let leftovers: Vec<_> = std::fs::read_dir(&broker.data_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("adm-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
