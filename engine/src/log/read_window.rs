//! One window of a segment's bytes, as a read by offset sees it: which whole batches it holds
//! for the read, and what the read does next. No I/O here, so the rules are tested directly.

use bytes::Bytes;

use strata_record::batch::{self, LOG_OVERHEAD};

/// What one window of a segment's bytes held for a read.
pub(super) struct WindowScan {
    /// Whole batches holding `offset` or after it, up to `max_bytes` (at least one).
    pub batches: Vec<Bytes>,
    /// Position after the last whole batch looked at.
    end_position: u64,
    /// Last offset of the last batch looked at.
    passed_offset: Option<i64>,
    /// When the first wanted batch runs past the window: the window size it needs.
    first_batch_cut_at: Option<u64>,
}

/// Walks the whole batches in `data` (segment bytes from `pos`), validating each; `Err` holds the
/// position and reason of the first bad one.
pub(super) fn scan_window(
    data: &Bytes,
    pos: u64,
    offset: i64,
    hw: i64,
    max_bytes: usize,
    limit: u64,
) -> std::result::Result<WindowScan, (u64, String)> {
    let mut scan = WindowScan {
        batches: Vec::new(),
        end_position: pos,
        passed_offset: None,
        first_batch_cut_at: None,
    };
    let mut total = 0usize;
    let mut at = 0usize;
    while at + LOG_OVERHEAD <= data.len() {
        let position = pos + at as u64;
        let size = batch::declared_size(&data[at..]).unwrap_or(0);
        // Bounded by the segment's written bytes, not by today's `max_batch_bytes`: a batch
        // stored under a larger limit stays readable after the limit is lowered.
        if size < batch::HEADER_LEN as i64 || position + size as u64 > limit {
            return Err((
                position,
                format!("impossible batch length {size} (the segment's data ends at byte {limit})"),
            ));
        }
        let size = size as usize;
        if at + size > data.len() {
            if scan.batches.is_empty() {
                scan.first_batch_cut_at = Some((at + size) as u64);
            }
            break;
        }
        let header = batch::validate(&data[at..at + size], usize::MAX)
            .map_err(|e| (position, e.to_string()))?;
        if header.last_offset() >= hw {
            break;
        }
        if header.last_offset() >= offset {
            if !scan.batches.is_empty() && total + size > max_bytes {
                break;
            }
            total += size;
            scan.batches.push(data.slice(at..at + size));
        }
        scan.passed_offset = Some(header.last_offset());
        at += size;
        scan.end_position = pos + at as u64;
    }
    Ok(scan)
}

/// Where a window was read and what bounds the read.
pub(super) struct Window {
    pub offset: i64,
    pub hw: i64,
    pub span: u64,
    /// Position of the window's first byte.
    pub start: u64,
    /// Position after the window's last byte.
    pub end: u64,
    /// Where the segment's written bytes end.
    pub limit: u64,
    /// The position the index gave for `offset`.
    pub floor: u64,
    /// How far past `floor` the batch holding `offset` can start (`index_check`).
    pub max_gap: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum NextStep {
    /// The batches found answer the read.
    Done,
    /// Read again from the same place, this many bytes.
    Widen(u64),
    /// Go on reading at this batch boundary (an index written with a larger interval).
    ContinueAt(u64),
    Fail {
        position: u64,
        reason: String,
    },
}

pub(super) fn next_step(scan: &WindowScan, w: &Window) -> NextStep {
    match (scan.first_batch_cut_at, scan.batches.first()) {
        // The first batch wanted is larger than what was read: read again, wider.
        (Some(n), _) if n > w.span => NextStep::Widen(n),
        (Some(_), _) => NextStep::Fail {
            position: scan.end_position,
            reason: format!(
                "batch runs past the end of the written data at byte {}",
                w.end
            ),
        },
        (None, Some(first)) => match batch::parse_header_fields(first) {
            // The index sent the read past the batch holding the offset.
            Some((base, _)) if base > w.offset => NextStep::Fail {
                position: w.floor,
                reason: format!(
                    "the first batch found from the index's floor entry starts at offset {base}, \
                     past the offset {} asked for",
                    w.offset
                ),
            },
            _ => NextStep::Done,
        },
        (None, None)
            if w.end < w.limit
                && scan.end_position > w.start
                && scan.end_position - w.floor <= w.max_gap =>
        {
            NextStep::ContinueAt(scan.end_position)
        }
        // Below the high watermark there is always a batch to return: finding none means the
        // index sent the read to the wrong place. An empty answer would leave a consumer waiting
        // forever, so it is an error, which a client retries on.
        (None, None) => NextStep::Fail {
            position: w.floor,
            reason: format!(
                "no batch holds offset {} (high watermark {}) in bytes [{}, {}) after the \
                 index's floor entry; the last batch there ends at offset {:?}",
                w.offset, w.hw, w.floor, scan.end_position, scan.passed_offset
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_record::testkit;

    /// Ten one-record batches with offsets 0..10, as a segment stores them.
    fn segment_bytes() -> (Bytes, Vec<u64>) {
        let mut all = Vec::new();
        let mut positions = Vec::new();
        for n in 0..10u64 {
            let mut b = testkit::batch_of(1, n, 1, 30, n as i64);
            batch::set_base_offset(&mut b, n as i64);
            positions.push(all.len() as u64);
            all.extend_from_slice(&b);
        }
        (Bytes::from(all), positions)
    }

    fn window(offset: i64, end: u64, limit: u64, max_gap: u64) -> Window {
        Window {
            offset,
            hw: 10,
            span: end,
            start: 0,
            end,
            limit,
            floor: 0,
            max_gap,
        }
    }

    #[test]
    fn a_window_holding_the_offset_answers_with_whole_batches_from_it() {
        let (data, positions) = segment_bytes();
        let scan = scan_window(&data, 0, 4, 10, 1, data.len() as u64).unwrap();
        assert_eq!(scan.batches.len(), 1);
        assert_eq!(scan.end_position, positions[5]);
        let w = window(4, data.len() as u64, data.len() as u64, 1 << 20);
        assert_eq!(next_step(&scan, &w), NextStep::Done);
    }

    #[test]
    fn a_window_ending_before_the_offset_reads_on_then_fails_past_the_largest_gap() {
        let (data, positions) = segment_bytes();
        let part = data.slice(..positions[6] as usize);
        let scan = scan_window(&part, 0, 8, 10, 1 << 20, data.len() as u64).unwrap();
        assert!(scan.batches.is_empty());
        assert_eq!(scan.passed_offset, Some(5));
        // More of the segment is written, within the largest gap the index allows: read on.
        let w = window(8, positions[6], data.len() as u64, 1 << 20);
        assert_eq!(next_step(&scan, &w), NextStep::ContinueAt(positions[6]));
        // Past that gap, or at the segment's end, it is an error, never an empty answer.
        let w = window(8, positions[6], data.len() as u64, 10);
        assert!(matches!(next_step(&scan, &w), NextStep::Fail { .. }));
        let w = window(8, positions[6], positions[6], 1 << 20);
        match next_step(&scan, &w) {
            NextStep::Fail { reason, .. } => assert!(reason.contains("no batch holds offset 8")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_read_sent_past_its_offset_fails() {
        let (data, positions) = segment_bytes();
        let from_six = data.slice(positions[6] as usize..);
        let scan = scan_window(&from_six, positions[6], 3, 10, 1 << 20, data.len() as u64).unwrap();
        let mut w = window(3, data.len() as u64, data.len() as u64, 1 << 20);
        w.start = positions[6];
        w.floor = positions[6];
        assert!(matches!(next_step(&scan, &w), NextStep::Fail { .. }));
    }

    #[test]
    fn a_batch_cut_by_the_window_widens_it_unless_it_runs_past_the_data() {
        let (data, positions) = segment_bytes();
        let part = data.slice(..positions[1] as usize + 20);
        let scan = scan_window(&part, 0, 1, 10, 1 << 20, data.len() as u64).unwrap();
        let w = Window {
            span: part.len() as u64,
            ..window(1, part.len() as u64, data.len() as u64, 1 << 20)
        };
        assert_eq!(next_step(&scan, &w), NextStep::Widen(positions[2]));
        let w = Window {
            span: positions[2],
            ..w
        };
        assert!(matches!(next_step(&scan, &w), NextStep::Fail { .. }));
    }
}
