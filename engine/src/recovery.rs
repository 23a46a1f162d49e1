//! Opening segments after a clean stop or a crash.
//!
//! Sealed segments are trusted as they are (their indexes are checked, not their bytes: reads
//! check CRCs), so opening is O(1) in the size of the log. The active segment, and any segment
//! left with a `.tail` file, is scanned from its last index entry on: each batch's length, magic,
//! CRC and offset are checked, the log is cut at the first bad one, and what was cut is reported.

use std::path::Path;
use std::rc::Rc;

use bytes::Bytes;

use crate::config::LogConfig;
use crate::error::{io_at, EngineError, Result};
use crate::index::{OffsetEntry, OffsetIndex, SparseIndex, TimeEntry, TimeIndex};
use crate::index_check;
use crate::pending::PendingBytes;
use crate::segment::{ActiveTail, Segment, SegmentPaths};
use crate::tail_slots::{self, SlotImage, TailSlots, SLOT_BYTES};
use strata_record::batch::{self, HEADER_LEN};
use strata_runtime::{self as rt, align_down, DirectFile, SharedFile};

/// What recovery found and did, per segment that lost bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: usize,
    pub truncations: Vec<Truncation>,
    pub rebuilt_indexes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    pub file: String,
    pub position: u64,
    pub next_offset: i64,
    pub dropped_bytes: u64,
    pub reason: String,
}

const SCAN_CHUNK_BYTES: usize = 4 << 20;

async fn open_file(path: &Path, create: bool) -> Result<SharedFile> {
    DirectFile::open(path, create)
        .await
        .map(Rc::new)
        .map_err(|e| EngineError::io("open", path, e))
}

async fn read_all(file: &DirectFile) -> Result<Vec<u8>> {
    let size = file
        .size()
        .await
        .map_err(|e| EngineError::io("stat", file.path(), e))?;
    file.read(0, size as usize)
        .await
        .map_err(|e| EngineError::io("read", file.path(), e))
}

async fn load_index<E: crate::index::IndexEntry>(
    file: &DirectFile,
) -> Result<std::result::Result<SparseIndex<E>, String>> {
    Ok(SparseIndex::<E>::decode(&read_all(file).await?))
}

/// Reads `[from, to)` of the segment as recovery sees it: the file, with the tail images laid over.
async fn read_extent(
    file: &DirectFile,
    images: &[SlotImage],
    from: u64,
    to: u64,
) -> Result<Vec<u8>> {
    let mut buf = file
        .read(from, (to - from) as usize)
        .await
        .map_err(|e| EngineError::io("read", file.path(), e))?;
    buf.resize((to - from) as usize, 0);
    for img in images {
        let (s, e) = (
            img.block_position,
            img.block_position + img.data.len() as u64,
        );
        let (cs, ce) = (s.max(from), e.min(to));
        if cs < ce {
            buf[(cs - from) as usize..(ce - from) as usize]
                .copy_from_slice(&img.data[(cs - s) as usize..(ce - s) as usize]);
        }
    }
    Ok(buf)
}

/// Where a segment's bytes end, as the index checks need it.
struct SegmentBounds {
    base_offset: i64,
    /// The next segment's base offset; `None` for the active segment.
    next_base: Option<i64>,
    /// The `.log` size of a segment sealed cleanly (no `.tail` file left).
    sealed_size: Option<u64>,
    /// The end of the `.log` with the tail images laid over it.
    extent_end: u64,
}

/// Checks the indexes loaded from disk (`index_check`) and that their first and last offset
/// entries point at the start of a batch with the offset they claim. Entries of an unsealed
/// segment that point past the bytes that reached the disk (written before a crash cut the log
/// short) are dropped first; what remains must check. `Err(reason)` means: rebuild from the log.
async fn check_indexes(
    file: &DirectFile,
    images: &[SlotImage],
    bounds: &SegmentBounds,
    mut offsets: OffsetIndex,
    mut times: TimeIndex,
    config: &LogConfig,
) -> Result<std::result::Result<(OffsetIndex, TimeIndex), String>> {
    if bounds.sealed_size.is_none() {
        offsets.truncate_where(|e| u64::from(e.position) < bounds.extent_end);
        let kept = offsets.last().map_or(0, |e| e.relative_offset);
        times.truncate_where(|e| e.relative_offset <= kept);
    }
    let max_gap =
        index_check::max_entry_gap_bytes(config.index_interval_bytes, config.max_batch_bytes);
    let end_relative = bounds
        .next_base
        .map(|n| (n - bounds.base_offset).clamp(0, i64::from(u32::MAX)) as u32);
    let sealed = bounds.sealed_size.zip(end_relative);
    if let Err(reason) = index_check::check_offset_index(&offsets, max_gap, sealed)
        .and_then(|()| index_check::check_time_index(&times, &offsets, end_relative))
    {
        return Ok(Err(reason));
    }
    for entry in [offsets.first(), offsets.last()].into_iter().flatten() {
        let at = u64::from(entry.position);
        let head = read_extent(
            file,
            images,
            at,
            (at + HEADER_LEN as u64).min(bounds.extent_end),
        )
        .await?;
        let claims = bounds.base_offset + i64::from(entry.relative_offset);
        // The header only: the batch itself may be the torn one, which the scan will find.
        let found = batch::parse_header_fields(&head);
        if found.is_none_or(|(offset, magic)| offset != claims || magic != batch::MAGIC) {
            return Ok(Err(format!(
                "entry {entry:?} claims offset {claims} at byte {at}, but the log has {found:?} \
                 (offset, magic) there"
            )));
        }
    }
    Ok(Ok((offsets, times)))
}

/// Opens the segment at `base_offset`. `next_base` is the following segment's base offset, or
/// `None` for the last (active) segment.
pub async fn open_segment(
    dir: &Path,
    base_offset: i64,
    next_base: Option<i64>,
    config: &LogConfig,
    report: &mut RecoveryReport,
) -> Result<Segment> {
    let paths = SegmentPaths::new(dir, base_offset);
    let file = open_file(&paths.log, false).await?;
    let index_existed = paths.index.exists() && paths.time_index.exists();
    let index_file = open_file(&paths.index, true).await?;
    let time_index_file = open_file(&paths.time_index, true).await?;
    let file_size = file
        .size()
        .await
        .map_err(|e| EngineError::io("stat", &paths.log, e))?;

    // A stat on the shard thread, as for the indexes above: the listing at open could answer it.
    let has_tail = paths.tail.exists();
    let tail_images = if has_tail {
        let tf = open_file(&paths.tail, false).await?;
        tail_slots::decode(&read_all(&tf).await?, base_offset)
    } else {
        Vec::new()
    };
    let images_end = tail_images
        .iter()
        .map(|i| i.block_position + i.data.len() as u64)
        .max()
        .unwrap_or(0);
    let extent_end = images_end.max(file_size);
    let sealed = next_base.is_some() && !has_tail;
    let loaded = match (
        load_index::<OffsetEntry>(&index_file).await?,
        load_index::<TimeEntry>(&time_index_file).await?,
    ) {
        (Ok(o), Ok(t)) if index_existed => Ok((o, t)),
        (Err(e), _) | (_, Err(e)) => Err(e),
        _ => Err("index files missing".to_string()),
    };
    let bounds = SegmentBounds {
        base_offset,
        next_base,
        sealed_size: sealed.then_some(file_size),
        extent_end,
    };
    let checked = match loaded {
        Ok((o, t)) => check_indexes(&file, &tail_images, &bounds, o, t, config).await?,
        Err(e) => Err(e),
    };
    let (offset_index, time_index, damage) = match checked {
        Ok((o, t)) => (o, t, None),
        Err(reason) => (OffsetIndex::default(), TimeIndex::default(), Some(reason)),
    };
    let needs_scan = !sealed || damage.is_some() || time_index.last().is_none();

    let mut seg = Segment {
        base_offset,
        next_offset: next_base.unwrap_or(base_offset),
        size_bytes: file_size,
        written_bytes: file_size,
        max_timestamp: time_index.last().map_or(-1, |e| e.max_timestamp),
        paths: paths.clone(),
        file: Some(file),
        offset_index: OffsetIndex::default(),
        time_index: TimeIndex::default(),
        last_indexed_position: 0,
        active: None,
    };
    if !needs_scan {
        seg.last_indexed_position = offset_index.last().map_or(0, |e| u64::from(e.position));
        seg.offset_index = offset_index;
        seg.time_index = time_index;
        return Ok(seg);
    }

    if let Some(reason) = damage {
        report
            .rebuilt_indexes
            .push(paths.index.display().to_string());
        tracing::warn!(
            segment = %paths.log.display(),
            "index damaged or missing ({reason}): rebuilding it from the log"
        );
        seg.max_timestamp = -1;
    }
    let (start_pos, start_offset) = match offset_index.last() {
        Some(e) => (
            u64::from(e.position),
            base_offset + i64::from(e.relative_offset),
        ),
        None => (0, base_offset),
    };
    seg.last_indexed_position = start_pos;
    seg.next_offset = start_offset;
    seg.offset_index = offset_index;
    seg.time_index = time_index;

    // Only a segment that was active (it has a tail file) may be preallocated: there, zeros
    // past every tail image are the allocated, never written rest.
    let unwritten_from = has_tail.then_some(images_end);
    let scan = scan_batches(
        &mut seg,
        &tail_images,
        start_pos,
        extent_end,
        unwritten_from,
        config,
    )
    .await?;
    let valid_end = scan.valid_end;
    seg.size_bytes = valid_end;
    seg.written_bytes = valid_end;
    if valid_end == start_pos && start_pos > 0 {
        forget_cut_batch_entries(&mut seg);
    }
    if let Some(reason) = scan.stop_reason {
        let t = Truncation {
            file: paths.log.display().to_string(),
            position: valid_end,
            next_offset: seg.next_offset,
            dropped_bytes: extent_end - valid_end,
            reason,
        };
        tracing::warn!(
            "segment {}: {} at byte {}; truncated the log to offset {} ({} bytes dropped)",
            t.file,
            t.reason,
            t.position,
            t.next_offset,
            t.dropped_bytes
        );
        report.truncations.push(t);
    }
    if let Some(n) = next_base {
        if seg.next_offset != n {
            return Err(EngineError::Corrupt {
                path: paths.log.clone(),
                position: valid_end,
                reason: format!(
                    "segment ends at offset {} but the next segment starts at {n}",
                    seg.next_offset
                ),
            });
        }
    }
    // A segment that lost its tail keeps the final time entry, as a seal would have written it.
    if next_base.is_some() {
        if let Some(last_rel) = scan.last_batch_relative {
            seg.push_time_entry(last_rel);
        }
    }
    rewrite_indexes(&mut seg, &index_file, &time_index_file).await?;

    let next_seq = tail_images.iter().map(|i| i.seq + 1).max().unwrap_or(1);
    if next_base.is_none() {
        make_active(
            &mut seg,
            &tail_images,
            next_seq,
            index_file,
            time_index_file,
        )
        .await?;
    } else {
        finish_sealed(&seg, &tail_images, valid_end).await?;
    }
    Ok(seg)
}

/// The scan cut the log at the very batch the last index entry names: that entry, and a time
/// entry for it, describe a batch that is gone (its timestamp would hold back retention).
fn forget_cut_batch_entries(seg: &mut Segment) {
    let end_relative = (seg.next_offset - seg.base_offset) as u32;
    seg.offset_index
        .truncate_where(|e| e.relative_offset < end_relative);
    seg.time_index
        .truncate_where(|e| e.relative_offset < end_relative);
    seg.last_indexed_position = seg.offset_index.last().map_or(0, |e| u64::from(e.position));
    seg.max_timestamp = seg.time_index.last().map_or(-1, |e| e.max_timestamp);
}

struct ScanResult {
    valid_end: u64,
    stop_reason: Option<String>,
    last_batch_relative: Option<u32>,
}

/// Walks batches from `start` to `extent_end`, noting each good one in `seg`; stops at the first
/// bad one. A run of zeros where a batch should start at or past `unwritten_from` (a segment
/// that may be preallocated: past every tail image) is a clean end.
async fn scan_batches(
    seg: &mut Segment,
    images: &[SlotImage],
    start: u64,
    extent_end: u64,
    unwritten_from: Option<u64>,
    config: &LogConfig,
) -> Result<ScanResult> {
    let mut pos = start;
    let mut window = Vec::new();
    let mut window_pos = start;
    let mut last_rel = None;
    let stop = |reason: Option<String>, pos, last_rel| ScanResult {
        valid_end: pos,
        stop_reason: reason,
        last_batch_relative: last_rel,
    };
    loop {
        if pos >= extent_end {
            return Ok(stop(None, pos, last_rel));
        }
        let need = |len: u64| (pos + len).min(extent_end);
        // Make the window hold at least the next batch header, then the whole batch.
        let mut want = need(HEADER_LEN as u64);
        for pass in 0..2 {
            if window_pos + (window.len() as u64) < want {
                let from = pos;
                let to = (from + SCAN_CHUNK_BYTES as u64).max(want).min(extent_end);
                window = read_extent(seg.log_file(), images, from, to).await?;
                window_pos = from;
            }
            if pass == 0 {
                let at = (pos - window_pos) as usize;
                match batch::declared_size(&window[at..]) {
                    // Not bounded by today's `max_batch_bytes`: a batch stored under a larger
                    // limit is as valid as any (cutting the log there would lose it).
                    Some(d) if d > 0 => want = need(d as u64),
                    _ => break,
                }
            }
        }
        let at = (pos - window_pos) as usize;
        let rest = &window[at..];
        if rest.iter().all(|&b| b == 0) {
            // Zeros where a batch should start. In a preallocated file, past the end of every
            // tail image, this is the allocated, never written rest: the clean end. Before it,
            // a write of whole blocks that an image after them shows was made never reached
            // the disk.
            if unwritten_from.is_some_and(|from| pos >= from) {
                return Ok(stop(None, pos, last_rel));
            }
            let reason = "zero bytes where the next batch should start".to_string();
            return Ok(stop(Some(reason), pos, last_rel));
        }
        let header = match batch::validate(rest, usize::MAX) {
            Ok(h) => h,
            Err(e) => return Ok(stop(Some(e.to_string()), pos, last_rel)),
        };
        if header.base_offset != seg.next_offset {
            let reason = format!(
                "batch offset {} where {} was expected",
                header.base_offset, seg.next_offset
            );
            return Ok(stop(Some(reason), pos, last_rel));
        }
        seg.note_batch(&header, pos, config.index_interval_bytes);
        last_rel = Some((header.base_offset - seg.base_offset) as u32);
        pos += header.size_bytes as u64;
    }
}

/// Brings both index files in line with the recovered in-memory indexes: each file is cut at its
/// first block that is not wholly on disk and the entries from there on are written back, so the
/// blocks before it (which recovery read and checked) stay as they are.
async fn rewrite_indexes(
    seg: &mut Segment,
    index_file: &DirectFile,
    time_index_file: &DirectFile,
) -> Result<()> {
    for (file, (pos, data)) in [
        (index_file, seg.offset_index.rewrite_from()),
        (time_index_file, seg.time_index.rewrite_from()),
    ] {
        let path = file.path();
        file.truncate(pos).await.map_err(io_at("truncate", path))?;
        if !data.is_empty() {
            file.write_blocks(pos, &data)
                .await
                .map_err(io_at("write", path))?;
        }
        file.sync().await.map_err(io_at("fdatasync", path))?;
    }
    seg.offset_index.mark_persisted(true);
    seg.time_index.mark_persisted(true);
    Ok(())
}

/// Makes the recovered last segment writable: its partial last block moves into fresh tail slots
/// (all of them, so no image from before a truncation can come back), then the `.log` file is cut
/// to whole blocks. In that order, so that a crash in between loses nothing.
async fn make_active(
    seg: &mut Segment,
    images: &[SlotImage],
    next_seq: u64,
    index_file: SharedFile,
    time_index_file: SharedFile,
) -> Result<()> {
    let size = seg.size_bytes;
    let pending_start = align_down(size);
    let pending = read_extent(seg.log_file(), images, pending_start, size).await?;
    let tail_file = open_file(&seg.paths.tail, true).await?;
    let mut slots = TailSlots::new(next_seq);
    let tail_path = seg.paths.tail.clone();
    for _ in 0..tail_slots::SLOTS {
        let (pos, buf) = slots.prepare(&tail_file, seg.base_offset, pending_start, &[&pending]);
        tail_file
            .write_buf(pos, buf)
            .await
            .map_err(io_at("write", &tail_path))?;
        slots.mark_synced();
    }
    tail_file
        .truncate(tail_slots::SLOTS * SLOT_BYTES)
        .await
        .map_err(io_at("truncate", &tail_path))?;
    tail_file
        .sync()
        .await
        .map_err(io_at("fdatasync", &tail_path))?;
    let dir = seg.paths.log.parent().unwrap_or(Path::new("."));
    rt::sync_dir(dir)
        .await
        .map_err(|e| EngineError::io("fsync dir", dir, e))?;
    let log_path = seg.paths.log.clone();
    seg.log_file()
        .truncate(pending_start)
        .await
        .map_err(io_at("truncate", &log_path))?;
    seg.log_file()
        .sync()
        .await
        .map_err(io_at("fdatasync", &log_path))?;
    seg.active = Some(ActiveTail {
        tail_file,
        index_file,
        time_index_file,
        slots,
        pending: PendingBytes::with(pending_start, Bytes::from(pending)),
        first_append: (size > 0).then(std::time::Instant::now),
        allocated_bytes: pending_start,
    });
    Ok(())
}

/// A non-last segment that was found with a tail file: make its `.log` hold exactly its batches.
async fn finish_sealed(seg: &Segment, images: &[SlotImage], valid_end: u64) -> Result<()> {
    let log_path = &seg.paths.log;
    let last_block = align_down(valid_end);
    if valid_end > last_block {
        let data = read_extent(seg.log_file(), images, last_block, valid_end).await?;
        seg.log_file()
            .write_blocks(last_block, &data)
            .await
            .map_err(io_at("write", log_path))?;
    }
    seg.log_file()
        .truncate(valid_end)
        .await
        .map_err(io_at("truncate", log_path))?;
    seg.log_file()
        .sync()
        .await
        .map_err(io_at("fdatasync", log_path))?;
    rt::fs::remove_file(&seg.paths.tail)
        .await
        .map_err(|e| EngineError::io("remove", &seg.paths.tail, e))?;
    Ok(())
}

/// Cuts the segment at `base_offset` to its first `position` bytes (a batch boundary) for a
/// truncation of the log's end: afterwards the `.log` holds exactly those bytes and no tail
/// file is left, as a sealed segment's would be, and `open_segment` as the last segment makes
/// it active again. Bytes below `position` that only a tail slot held are first written to the
/// `.log`'s block that never held them; a block the `.log` already holds is only cut, never
/// written again, so a torn write cannot reach bytes that were durable.
pub async fn cut_segment(dir: &Path, base_offset: i64, position: u64) -> Result<()> {
    let paths = SegmentPaths::new(dir, base_offset);
    let file = open_file(&paths.log, false).await?;
    let file_size = file
        .size()
        .await
        .map_err(|e| EngineError::io("stat", &paths.log, e))?;
    let has_tail = paths.tail.exists();
    if position > file_size {
        let images = if has_tail {
            let tf = open_file(&paths.tail, false).await?;
            tail_slots::decode(&read_all(&tf).await?, base_offset)
        } else {
            Vec::new()
        };
        let last_block = align_down(position);
        assert!(
            last_block >= file_size,
            "an active segment's .log holds whole blocks only"
        );
        let data = read_extent(&file, &images, last_block, position).await?;
        file.write_blocks(last_block, &data)
            .await
            .map_err(io_at("write", &paths.log))?;
    }
    file.truncate(position)
        .await
        .map_err(io_at("truncate", &paths.log))?;
    file.sync().await.map_err(io_at("fdatasync", &paths.log))?;
    if has_tail {
        rt::fs::remove_file(&paths.tail)
            .await
            .map_err(|e| EngineError::io("remove", &paths.tail, e))?;
    }
    rt::sync_dir(dir)
        .await
        .map_err(|e| EngineError::io("fsync dir", dir, e))
}
