use proptest::prelude::*;

use super::*;

fn entry(term: u64, index: u64, data: &[u8]) -> Entry {
    Entry {
        term,
        index,
        data: data.to_vec().into(),
        ..Default::default()
    }
}

fn hard_state(term: u64, vote: u64, commit: u64) -> HardState {
    HardState {
        term,
        vote,
        commit,
        ..Default::default()
    }
}

fn file(records: &[WalRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        encode(r, &mut out);
    }
    out
}

#[test]
fn entries_and_the_last_hard_state_read_back_and_overwrites_replace_the_suffix() {
    let records = vec![
        WalRecord::Entry(entry(1, 1, b"a")),
        WalRecord::Entry(entry(1, 2, b"b")),
        WalRecord::Entry(entry(1, 3, b"c")),
        WalRecord::HardState(hard_state(1, 1, 2)),
        // A new leader of term 2 overwrote the uncommitted entry 3 (and what would follow).
        WalRecord::Entry(entry(2, 3, b"C")),
        WalRecord::HardState(hard_state(2, 2, 3)),
    ];
    let bytes = file(&records);
    let got = recover(&bytes).unwrap();
    let terms: Vec<(u64, u64)> = got.entries.iter().map(|e| (e.index, e.term)).collect();
    assert_eq!(terms, vec![(1, 1), (2, 1), (3, 2)]);
    assert_eq!(got.hard_state, Some(hard_state(2, 2, 3)));
    assert_eq!(got.valid_len, bytes.len());
    let gap = file(&[
        WalRecord::Entry(entry(1, 1, b"a")),
        WalRecord::Entry(entry(1, 3, b"c")),
    ]);
    assert!(matches!(
        recover(&gap),
        Err(WalError::Gap {
            index: 3,
            last: 1,
            ..
        })
    ));
}

#[test]
fn damage_with_whole_records_after_it_is_refused_not_cut_off() {
    let records: Vec<WalRecord> = (1..=5)
        .map(|i| WalRecord::Entry(entry(1, i, b"data")))
        .collect();
    let mut bytes = file(&records);
    let second = bytes.len() / 5 + 10;
    bytes[second] ^= 0x40;
    assert!(matches!(recover(&bytes), Err(WalError::Damaged { .. })));
}

fn record() -> impl Strategy<Value = WalRecord> {
    prop_oneof![
        (0u64..4, proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(term, data)| WalRecord::Entry(entry(term, 0, &data))),
        (0u64..4, 0u64..4, 0u64..40)
            .prop_map(|(t, v, c)| WalRecord::HardState(hard_state(t, v, c))),
    ]
}

proptest! {
    /// Whatever a crash leaves (the file cut anywhere, or the last record's bytes garbled), the
    /// file reads back as exactly its whole records before the damage.
    #[test]
    fn a_torn_end_loses_only_the_records_being_written(
        mut records in proptest::collection::vec(record(), 1..30),
        cut in any::<proptest::sample::Index>(),
        garble in any::<bool>(),
        flip in any::<proptest::sample::Index>(),
    ) {
        // Entries get consecutive indexes, as a log's do.
        let mut next = 1;
        for r in &mut records {
            if let WalRecord::Entry(e) = r {
                e.index = next;
                next += 1;
            }
        }
        let ends: Vec<usize> = records
            .iter()
            .scan(0, |at, r| {
                let mut one = Vec::new();
                encode(r, &mut one);
                *at += one.len();
                Some(*at)
            })
            .collect();
        let mut bytes = file(&records);
        let kept = if garble {
            // The last record's bytes garbled: it is lost, nothing before it.
            let start = if ends.len() > 1 { ends[ends.len() - 2] } else { 0 };
            let at = start + flip.index(bytes.len() - start);
            bytes[at] ^= 0x5a;
            ends.len() - 1
        } else {
            let len = cut.index(bytes.len() + 1);
            bytes.truncate(len);
            ends.iter().filter(|e| **e <= len).count()
        };
        let got = recover(&bytes).unwrap();
        let expected = recover(&file(&records[..kept])).unwrap();
        prop_assert_eq!(got.valid_len, if kept == 0 { 0 } else { ends[kept - 1] });
        prop_assert_eq!(got.entries, expected.entries);
        prop_assert_eq!(got.hard_state, expected.hard_state);
    }
}
