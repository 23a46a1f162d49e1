//! The load generator against our broker: a short run with a consumer and verification writes
//! every output file, loses nothing, and two runs compare into a table and a plot.

mod common;

use common::*;
use strata_bench::{compare, runner, workload};

fn short_run(
    broker: &BrokerProcess,
    out: &std::path::Path,
    preset: &str,
    sets: &[&str],
) -> runner::Summary {
    let mut params = workload::preset(preset).unwrap();
    for s in ["duration_s=2", "warmup_s=1", "consumers=1", "verify=true"]
        .iter()
        .chain(sets)
    {
        params.set(s).unwrap();
    }
    runner::run(runner::RunOptions {
        preset: preset.into(),
        bootstrap: broker.bootstrap(),
        params,
        out: out.to_path_buf(),
    })
    .unwrap()
}

#[test]
fn a_short_verified_run_writes_its_results_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(&dir.path().join("data"));
    let closed = dir.path().join("closed");
    let s = short_run(&broker, &closed, "throughput", &[]);
    for f in [
        "summary.json",
        "produce.hgrm",
        "e2e.hgrm",
        "produce.hlog",
        "e2e.hlog",
    ] {
        let meta = std::fs::metadata(closed.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(meta.len() > 0, "{f} is empty");
    }
    assert!(s.produced_records > 0 && s.errors == 0, "{s:?}");
    let v = s.verify.clone().expect("verification ran");
    assert!(v.acknowledged > 0);
    assert_eq!(
        (v.received_unique, v.lost, v.duplicates, v.reordered),
        (v.acknowledged, 0, 0, 0),
        "{v:?}"
    );
    assert!(s.e2e_latency_us.count > 0 && s.produce_latency_us.count > 0);
    assert_eq!(s.broker, broker.bootstrap());

    // An open-loop run on another topic, then both side by side.
    let open = dir.path().join("open");
    let s = short_run(
        &broker,
        &open,
        "latency",
        &["rate=20000", "topic=bench-open"],
    );
    let v = s.verify.clone().unwrap();
    assert_eq!((v.lost, v.duplicates, v.reordered), (0, 0, 0), "{v:?}");
    assert!(
        s.produced_records_per_s > 10_000.0 && s.produced_records_per_s < 30_000.0,
        "{s:?}"
    );
    let plot = dir.path().join("cmp");
    let table = compare::compare(&[closed, open], &plot).unwrap();
    assert!(table.contains("vs first"), "{table}");
    assert!(std::fs::read_to_string(plot.with_extension("svg"))
        .unwrap()
        .contains("<polyline"));
    assert!(std::fs::read(plot.with_extension("png"))
        .unwrap()
        .starts_with(b"\x89PNG"));
}

#[test]
fn an_idempotent_run_numbers_its_batches_and_the_broker_takes_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let broker = BrokerProcess::start(&data);
    let s = short_run(
        &broker,
        &dir.path().join("idem"),
        "throughput",
        &["idempotent=true", "acks=-1", "topic=bench-idem"],
    );
    // A wrong sequence or epoch would come back as a produce error.
    assert!(s.produced_records > 0 && s.errors == 0, "{s:?}");
    let v = s.verify.clone().unwrap();
    assert_eq!(
        (v.received_unique, v.lost, v.duplicates, v.reordered),
        (v.acknowledged, 0, 0, 0),
        "{v:?}"
    );
    // The stored batches are the producer's: an id, and sequences from 0.
    let log = std::fs::read(data.join("bench-idem-0/00000000000000000000.log")).unwrap();
    let first = strata_record::batch::validate(&log, usize::MAX).unwrap();
    assert!(first.producer_id >= 0, "{first:?}");
    assert_eq!(first.base_sequence, 0);
    let second = strata_record::batch::validate(&log[first.size_bytes..], usize::MAX).unwrap();
    assert_eq!(second.producer_id, first.producer_id);
    assert_eq!(second.base_sequence, first.records_count);
}

/// One stage's line of the broker's latency report.
#[derive(Debug)]
struct StageLine {
    shard: usize,
    count: u64,
    p50: u64,
    p99: u64,
    max: u64,
}

fn stage_lines(log: &str, stage: &str) -> Vec<StageLine> {
    let field = |line: &str, key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key} in {line}"))
    };
    log.lines()
        .filter_map(|l| l.find("latency-report ").map(|at| &l[at..]))
        .filter(|l| l.contains(&format!(" stage={stage} ")))
        .map(|l| StageLine {
            shard: field(l, "shard=") as usize,
            count: field(l, "count="),
            p50: field(l, "p50_us="),
            p99: field(l, "p99_us="),
            max: field(l, "max_us="),
        })
        .collect()
}

#[test]
fn the_latency_report_times_every_stage_of_produce_and_fetch_on_each_shard() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start_with(
        &dir.path().join("data"),
        "latency_report_interval_ms = 500\n",
    );
    let s = short_run(
        &broker,
        &dir.path().join("run"),
        "latency",
        &["rate=20000", "linger_us=500", "topic=bench-stages"],
    );
    assert!(s.produced_records > 0 && s.errors == 0, "{s:?}");
    broker.stop();
    let log = broker.log_text();
    // Stages every produce and fetch passes through, on the shard of the connection or the
    // owner; 8 partitions over 2 shards, so both shards own some and forwarding happens.
    for stage in [
        "request.frame_read",
        "request.decode",
        "produce.total",
        "produce.handle",
        "produce.forward",
        "produce.append",
        "produce.wait_written",
        "produce.woken",
        "engine.flush_queued",
        "engine.flush_write",
        "fetch.total",
        "fetch.read",
        "response.queued",
        "response.write",
    ] {
        let lines = stage_lines(&log, stage);
        let counted: u64 = lines.iter().map(|l| l.count).sum();
        assert!(counted > 0, "no {stage} timings in:\n{log}");
        for l in &lines {
            assert!(l.p50 <= l.p99 && l.p99 <= l.max, "{stage}: {l:?}");
        }
    }
    // Appends and writes happen on both owners.
    for stage in ["produce.append", "engine.flush_write"] {
        let shards: std::collections::BTreeSet<_> =
            stage_lines(&log, stage).iter().map(|l| l.shard).collect();
        assert_eq!(shards.len(), 2, "{stage} on shards {shards:?}");
    }
    // A produce is at least its own append and write: the stages add up, they are not
    // printed at random.
    let total_max = stage_lines(&log, "produce.total")
        .iter()
        .map(|l| l.max)
        .max()
        .unwrap();
    let append_p50 = stage_lines(&log, "produce.append")
        .iter()
        .map(|l| l.p50)
        .min()
        .unwrap();
    assert!(total_max >= append_p50, "{total_max} < {append_p50}");
}
