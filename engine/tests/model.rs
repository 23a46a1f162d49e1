//! Property test: random sequences of appends, flushes, syncs, reads by offset and by time,
//! retention, clean reopens and crashes (the log dropped without a close), checked against a plain
//! in-memory model of the log. Two shapes: small segments with few index entries, and segments
//! of many small batches, each indexed, so that each segment's indexes fill several blocks.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use strata_engine::{EngineError, LogConfig, TruncateStep};
use strata_record::{batch, testkit};

#[derive(Debug, Clone)]
enum Op {
    Append {
        /// Batches in the one append call.
        batches: usize,
        records: usize,
        value_len: usize,
        durable: bool,
    },
    Read {
        at: u16,
        max_bytes: u16,
    },
    ByTime {
        at: u16,
    },
    Retention,
    Reopen,
    /// The log dropped without a close: a process crash after everything was written.
    Crash,
    /// The log's end cut (a follower's divergence), at a point between its start and end;
    /// with `crash_after`, a crash after that step of the truncation, then a reopen.
    Truncate {
        at: u16,
        crash_after: Option<u8>,
    },
}

fn truncate_op() -> impl Strategy<Value = Op> {
    (any::<u16>(), prop::option::of(0u8..3))
        .prop_map(|(at, crash_after)| Op::Truncate { at, crash_after })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..6, 1usize..4000, any::<bool>()).prop_map(|(records, value_len, durable)| Op::Append { batches: 1, records, value_len, durable }),
        3 => (any::<u16>(), 1u16..20000).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        1 => any::<u16>().prop_map(|at| Op::ByTime { at }),
        1 => Just(Op::Retention),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
        1 => truncate_op(),
    ]
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 64 * 1024,
        index_interval_bytes: 700,
        max_batch_bytes: 32 * 1024,
        retention_bytes: Some(150 * 1024),
        retention_ms: None,
        ..Default::default()
    }
}

/// Many small batches per append, every batch indexed: a 256 KiB segment holds ~1,500 offset
/// entries (three 512-entry blocks) and as many time entries (six 256-entry blocks).
fn dense_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1usize..60, 1usize..4, 1usize..120, any::<bool>()).prop_map(|(batches, records, value_len, durable)| Op::Append { batches, records, value_len, durable }),
        3 => (any::<u16>(), 1u16..20000).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        1 => any::<u16>().prop_map(|at| Op::ByTime { at }),
        1 => Just(Op::Retention),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
        1 => truncate_op(),
    ]
}

fn dense_config() -> LogConfig {
    LogConfig {
        segment_bytes: 256 * 1024,
        index_interval_bytes: 1,
        max_batch_bytes: 32 * 1024,
        retention_bytes: Some(1024 * 1024),
        retention_ms: None,
        ..Default::default()
    }
}

/// Model: base offset -> (batch bytes without offset, last offset, timestamp).
type Model = BTreeMap<i64, (Vec<u8>, i64, i64)>;

/// A one-byte read at every offset of the log returns the model's batch holding it.
async fn check_every_offset(log: &strata_engine::PartitionLog, model: &Model) {
    for offset in log.log_start_offset()..log.high_watermark() {
        let got = log.read(offset, 1).await.unwrap();
        assert_eq!(got.batches.len(), 1, "offset {offset}");
        let (&base, (bytes, last, _)) = model.range(..=offset).next_back().unwrap();
        let h = batch::validate(&got.batches[0], usize::MAX).unwrap();
        assert_eq!(
            (h.base_offset, h.last_offset()),
            (base, *last),
            "offset {offset}"
        );
        assert!(
            &testkit::without_offset(&got.batches[0]) == bytes,
            "offset {offset}"
        );
    }
}

fn check_against_model(ops: Vec<Op>, config: LogConfig) {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (mut log, _) = open(dir.path(), config).await;
        // Model: base offset -> (batch bytes without offset, last offset, timestamp).
        let mut model: BTreeMap<i64, (Vec<u8>, i64, i64)> = BTreeMap::new();
        let mut n = 0u64;
        for op in ops {
            match op {
                Op::Append {
                    batches,
                    records,
                    value_len,
                    durable,
                } => {
                    // Timestamps rise with n, so a lookup by time has one right answer.
                    let mut all = bytes::BytesMut::new();
                    let mut sent = Vec::new();
                    for k in 0..batches as u64 {
                        let b =
                            testkit::batch_of(21, n + k, records, value_len, 10 * (n + k) as i64);
                        sent.push(testkit::without_offset(&b));
                        all.extend_from_slice(&b);
                    }
                    let mut base = model
                        .values()
                        .next_back()
                        .map_or(log.log_end_offset(), |v| v.1 + 1);
                    let a = log.append_and_wait(all, durable).await.unwrap();
                    assert_eq!(a.base_offset, base);
                    for bytes in sent {
                        let last = base + records as i64 - 1;
                        model.insert(base, (bytes, last, 10 * n as i64));
                        base = last + 1;
                        n += 1;
                    }
                    assert_eq!(a.last_offset, base - 1);
                    assert_eq!(log.high_watermark(), a.last_offset + 1);
                    if durable {
                        assert!(log.durable_offset() > a.last_offset);
                    }
                }
                Op::Read { at, max_bytes } => {
                    let start = log.log_start_offset();
                    let end = log.high_watermark();
                    let offset = start + i64::from(at) % (end - start + 1);
                    let got = log.read(offset, usize::from(max_bytes)).await.unwrap();
                    if offset == end {
                        assert!(got.batches.is_empty());
                        continue;
                    }
                    assert!(!got.batches.is_empty());
                    let (&first, _) = model.range(..=offset).next_back().unwrap();
                    let mut expect = model.range(first..);
                    let mut total = 0;
                    for b in &got.batches {
                        let h = batch::validate(b, usize::MAX).unwrap();
                        let (&base, (bytes, last, _)) = expect.next().unwrap();
                        assert_eq!(h.base_offset, base);
                        assert_eq!(h.last_offset(), *last);
                        assert!(
                            &testkit::without_offset(b) == bytes,
                            "content of batch {base}"
                        );
                        total += b.len();
                    }
                    assert!(got.batches.len() == 1 || total <= usize::from(max_bytes));
                }
                Op::ByTime { at } => {
                    let ts = i64::from(at) % (10 * n as i64 + 20);
                    let expect = model.iter().find(|(_, v)| v.2 >= ts).map(|(k, _)| *k);
                    assert_eq!(
                        log.offset_for_timestamp(ts).await.unwrap(),
                        expect,
                        "ts {ts}"
                    );
                }
                Op::Retention => {
                    let r = log.enforce_retention(0).await.unwrap();
                    model = model.split_off(&r.log_start_offset);
                    assert_eq!(log.log_start_offset(), r.log_start_offset);
                    if r.log_start_offset > 0 {
                        assert!(matches!(
                            log.read(r.log_start_offset - 1, 10).await,
                            Err(EngineError::OffsetOutOfRange { .. })
                        ));
                    }
                }
                Op::Truncate { at, crash_after } => {
                    let start = log.log_start_offset();
                    let end = log.log_end_offset();
                    // Now and then below the start: the log is emptied and starts there.
                    let offset = ((start - 3) + i64::from(at) % (end - start + 4)).max(0);
                    let expect_end = match model.range(..=offset).next_back() {
                        _ if offset <= start => offset,
                        Some((&base, (_, last, _))) if *last >= offset => base,
                        _ => offset.min(end),
                    };
                    if offset >= end {
                        assert_eq!(log.truncate_to(offset).await.unwrap(), end);
                        continue;
                    }
                    match crash_after {
                        None => {
                            assert_eq!(log.truncate_to(offset).await.unwrap(), expect_end);
                        }
                        Some(step) => {
                            let step = [
                                TruncateStep::MarkerWritten,
                                TruncateStep::SegmentsAboveRemoved,
                                TruncateStep::SegmentCut,
                            ][usize::from(step)];
                            log.truncate_until(offset, step).await.unwrap();
                            drop(log);
                            let (reopened, report) = open(dir.path(), config).await;
                            assert!(report.rebuilt_indexes.is_empty(), "{report:?}");
                            log = reopened;
                        }
                    }
                    assert!(!dir.path().join("truncate-to").exists());
                    if offset <= start {
                        model.clear();
                    } else {
                        model.split_off(&expect_end);
                    }
                    assert_eq!(log.log_end_offset(), expect_end);
                    assert_eq!(log.high_watermark(), expect_end);
                    let expect_start = if offset <= start { offset } else { start };
                    assert_eq!(log.log_start_offset(), expect_start);
                    check_every_offset(&log, &model).await;
                }
                Op::Reopen | Op::Crash => {
                    let end = log.log_end_offset();
                    if matches!(op, Op::Crash) {
                        drop(log);
                    } else {
                        log.close().await.unwrap();
                    }
                    let (reopened, report) = open(dir.path(), config).await;
                    assert!(report.truncations.is_empty(), "{report:?}");
                    assert!(report.rebuilt_indexes.is_empty(), "{report:?}");
                    assert_eq!(reopened.log_end_offset(), end);
                    log = reopened;
                    // Every offset reads back as the model has it.
                    check_every_offset(&log, &model).await;
                }
            }
        }
        let all = read_all(&log, log.log_start_offset(), 1 << 20).await;
        assert_eq!(all.len(), model.len());
        check_every_offset(&log, &model).await;
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn the_log_behaves_like_its_model(ops in prop::collection::vec(op(), 1..120)) {
        check_against_model(ops, config());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn the_log_behaves_like_its_model_with_indexes_of_several_blocks(ops in prop::collection::vec(dense_op(), 1..160)) {
        check_against_model(ops, dense_config());
    }
}
