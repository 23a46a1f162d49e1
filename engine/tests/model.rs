//! Property test: random sequences of appends, flushes, syncs, reads by offset and by time,
//! retention and reopens, checked against a plain in-memory model of the log.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use strata_engine::{batch, testkit, EngineError, LogConfig};

#[derive(Debug, Clone)]
enum Op {
    Append {
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
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..6, 1usize..4000, any::<bool>()).prop_map(|(records, value_len, durable)| Op::Append { records, value_len, durable }),
        3 => (any::<u16>(), 1u16..20000).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        1 => any::<u16>().prop_map(|at| Op::ByTime { at }),
        1 => Just(Op::Retention),
        1 => Just(Op::Reopen),
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn the_log_behaves_like_its_model(ops in prop::collection::vec(op(), 1..120)) {
        let dir = tempfile::tempdir().unwrap();
        run(async {
            let (mut log, _) = open(dir.path(), config()).await;
            // Model: base offset -> (batch bytes without offset, last offset, timestamp).
            let mut model: BTreeMap<i64, (Vec<u8>, i64, i64)> = BTreeMap::new();
            let mut n = 0u64;
            for op in ops {
                match op {
                    Op::Append { records, value_len, durable } => {
                        // Timestamps rise with n, so a lookup by time has one right answer.
                        let b = testkit::batch_of(21, n, records, value_len, 10 * n as i64);
                        let sent = testkit::without_offset(&b);
                        let expect_base = model.values().next_back().map_or(log.log_end_offset(), |v| v.1 + 1);
                        let a = log.append_and_wait(b, durable).await.unwrap();
                        assert_eq!(a.base_offset, expect_base);
                        model.insert(a.base_offset, (sent, a.last_offset, 10 * n as i64));
                        n += 1;
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
                            assert!(&testkit::without_offset(b) == bytes, "content of batch {base}");
                            total += b.len();
                        }
                        assert!(got.batches.len() == 1 || total <= usize::from(max_bytes));
                    }
                    Op::ByTime { at } => {
                        let ts = i64::from(at) % (10 * n as i64 + 20);
                        let expect = model.iter().find(|(_, v)| v.2 >= ts).map(|(k, _)| *k);
                        assert_eq!(log.offset_for_timestamp(ts).await.unwrap(), expect, "ts {ts}");
                    }
                    Op::Retention => {
                        let r = log.enforce_retention(0).await.unwrap();
                        model = model.split_off(&r.log_start_offset);
                        assert_eq!(log.log_start_offset(), r.log_start_offset);
                        if r.log_start_offset > 0 {
                            assert!(matches!(log.read(r.log_start_offset - 1, 10).await, Err(EngineError::OffsetOutOfRange { .. })));
                        }
                    }
                    Op::Reopen => {
                        let end = log.log_end_offset();
                        log.close().await.unwrap();
                        let (reopened, report) = open(dir.path(), config()).await;
                        assert!(report.truncations.is_empty(), "{report:?}");
                        assert_eq!(reopened.log_end_offset(), end);
                        log = reopened;
                    }
                }
            }
            let all = read_all(&log, log.log_start_offset(), 1 << 20).await;
            assert_eq!(all.len(), model.len());
        });
    }
}
