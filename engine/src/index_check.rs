//! Checks of a segment's indexes as loaded from disk, made before recovery trusts them: a damaged
//! index sends reads to the wrong bytes, and a read that starts too early finds nothing within
//! its span. These checks look only at the entries (no log bytes), so they cost O(entries) in
//! memory and no I/O; recovery adds two header reads at the first and last entries.

use crate::index::{OffsetIndex, TimeIndex};

/// The largest distance in bytes between two consecutive offset-index entries (or between the
/// segment's start and its first entry, or its last entry and a sealed segment's end): an entry is
/// added at the first batch starting `index_interval_bytes` or more after the last one, and the
/// batch before it is at most `max_batch_bytes` long.
///
/// Both settings may change between restarts. A segment written with a larger interval or larger
/// batches than the settings now allow fails the check and has its indexes rebuilt once (a scan
/// of that segment, logged); nothing is lost, and the rebuilt index satisfies the new bound.
pub fn max_entry_gap_bytes(index_interval_bytes: u64, max_batch_bytes: usize) -> u64 {
    index_interval_bytes + max_batch_bytes as u64
}

/// Checks the offset index of a segment: entries spread no wider than `max_gap_bytes` from the
/// segment's first byte on, and, for a sealed segment of `sealed_size` bytes holding offsets
/// below `sealed_end_relative`, entries that reach its end and stay within its offsets.
/// Key ordering is checked when the index is decoded.
pub fn check_offset_index(
    index: &OffsetIndex,
    max_gap_bytes: u64,
    sealed: Option<(u64, u32)>,
) -> Result<(), String> {
    let mut prev_position = 0u64;
    for (i, e) in index.entries().iter().enumerate() {
        let position = u64::from(e.position);
        if position - prev_position > max_gap_bytes {
            return Err(format!(
                "entry {i} (relative offset {}) is at byte {position}, {} bytes after the \
                 previous entry; entries are at most {max_gap_bytes} bytes apart",
                e.relative_offset,
                position - prev_position
            ));
        }
        prev_position = position;
    }
    if let Some((size, end_relative)) = sealed {
        if size.saturating_sub(prev_position) > max_gap_bytes {
            return Err(format!(
                "the last entry is at byte {prev_position} of a {size}-byte segment; entries \
                 are at most {max_gap_bytes} bytes apart"
            ));
        }
        if let Some(last) = index.last() {
            if last.relative_offset >= end_relative || u64::from(last.position) >= size {
                return Err(format!(
                    "the last entry ({last:?}) is past the segment's end (relative offset \
                     {end_relative}, byte {size})"
                ));
            }
        }
    }
    Ok(())
}

/// Checks the time index against the offset index beside it: every time entry is added with an
/// offset entry of the same relative offset, or when a segment is sealed (after the offset
/// entries), so the first time entry can never come after the first offset entry. An index
/// that lost its leading blocks fails here. For a sealed segment, no entry may be past its end.
pub fn check_time_index(
    time: &TimeIndex,
    offsets: &OffsetIndex,
    sealed_end_relative: Option<u32>,
) -> Result<(), String> {
    match (time.first(), offsets.first()) {
        // Only a sealed segment must have both: the time index of the active segment may lag
        // behind the offset index after a crash (its blocks fill at another pace), which costs a
        // timestamp lookup a longer scan and nothing else.
        (None, Some(o)) if sealed_end_relative.is_some() => {
            return Err(format!(
                "the time index is empty while the offset index starts at relative offset {}",
                o.relative_offset
            ))
        }
        (Some(t), Some(o)) if t.relative_offset > o.relative_offset => {
            return Err(format!(
                "the time index starts at relative offset {}, after the offset index's first \
                 entry at {}",
                t.relative_offset, o.relative_offset
            ))
        }
        _ => {}
    }
    if let (Some(last), Some(end)) = (time.last(), sealed_end_relative) {
        if last.relative_offset >= end {
            return Err(format!(
                "the last time entry ({last:?}) is past the segment's end (relative offset {end})"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{OffsetEntry, TimeEntry};

    fn offsets(entries: &[(u32, u32)]) -> OffsetIndex {
        let mut idx = OffsetIndex::default();
        for &(relative_offset, position) in entries {
            idx.push(OffsetEntry {
                relative_offset,
                position,
            });
        }
        idx
    }

    fn times(entries: &[(i64, u32)]) -> TimeIndex {
        let mut idx = TimeIndex::default();
        for &(max_timestamp, relative_offset) in entries {
            idx.push(TimeEntry {
                max_timestamp,
                relative_offset,
            });
        }
        idx
    }

    #[test]
    fn a_dense_index_passes_and_one_missing_its_first_entries_fails() {
        let good = offsets(&[(10, 1000), (20, 2000), (30, 3000)]);
        assert!(check_offset_index(&good, 1500, None).is_ok());
        assert!(check_offset_index(&good, 1500, Some((4000, 40))).is_ok());
        // The damage a rewrite at the wrong position left: entries from deep in the segment only.
        let lost_head = offsets(&[(41_000, 4_100_000), (41_010, 4_101_000)]);
        let err = check_offset_index(&lost_head, 1500, None).unwrap_err();
        assert!(err.contains("entry 0"), "{err}");
        // A hole in the middle.
        assert!(check_offset_index(&offsets(&[(10, 1000), (90, 9000)]), 1500, None).is_err());
    }

    #[test]
    fn a_sealed_segment_needs_entries_up_to_its_end_and_none_past_it() {
        let idx = offsets(&[(10, 1000), (20, 2000)]);
        let err = check_offset_index(&idx, 1500, Some((9000, 90))).unwrap_err();
        assert!(err.contains("last entry"), "{err}");
        assert!(check_offset_index(&idx, 1500, Some((2500, 20))).is_err());
        // An empty index is right for a segment smaller than one gap, wrong for a larger one.
        assert!(check_offset_index(&OffsetIndex::default(), 1500, Some((1200, 3))).is_ok());
        assert!(check_offset_index(&OffsetIndex::default(), 1500, Some((9000, 90))).is_err());
    }

    #[test]
    fn a_time_index_that_starts_after_the_offset_index_fails() {
        let o = offsets(&[(10, 1000), (20, 2000)]);
        assert!(check_time_index(&times(&[(5, 10), (9, 20)]), &o, None).is_ok());
        // A seal entry before the first offset entry (a clean stop of a small segment) is fine.
        assert!(check_time_index(&times(&[(3, 4), (5, 10)]), &o, None).is_ok());
        assert!(check_time_index(&times(&[(9, 20)]), &o, None).is_err());
        assert!(check_time_index(&TimeIndex::default(), &o, Some(30)).is_err());
        assert!(check_time_index(&TimeIndex::default(), &o, None).is_ok());
        assert!(check_time_index(&times(&[(5, 10), (9, 25)]), &o, Some(25)).is_err());
        assert!(check_time_index(&TimeIndex::default(), &OffsetIndex::default(), None).is_ok());
    }
}
