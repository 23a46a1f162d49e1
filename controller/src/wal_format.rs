//! The metadata log's write-ahead file format, and reading it back after a crash. Pure: bytes
//! in, records out; the file I/O (append, fdatasync before the messages that depend on it,
//! truncation) is the caller's.
//!
//! A record: length u32 (of what follows the CRC), CRC-32C u32 (of what follows it), kind u8,
//! then the fields, big-endian. Kinds: an entry (term, index, type, data, context) or the hard
//! state (term, vote, commit). An entry at an index the log already holds replaces that entry
//! and everything after it (a new leader overwrote an uncommitted suffix), so truncation needs
//! no record of its own.
//!
//! Reading back: a crash can tear only the records being written, at the end. A record that is
//! cut short or fails its CRC is the torn end, and the file is valid up to it, provided that
//! no whole record follows it. If one does, the damage is not from a crash but from the disk,
//! and reading refuses: Raft must not forget entries it has acknowledged.

use raft::eraftpb::{Entry, EntryType, HardState};

const HEADER_BYTES: usize = 8;
const KIND_ENTRY: u8 = 1;
const KIND_HARD_STATE: u8 = 2;

#[derive(Debug, Clone, PartialEq)]
pub enum WalRecord {
    Entry(Entry),
    HardState(HardState),
}

/// What a file read back holds: the log's entries (overwrites applied), the last hard state,
/// and how many bytes of the file are valid (the rest is a torn end to cut off).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovered {
    /// The newest snapshot, read from its own file by the caller (the log holds what follows).
    pub snapshot: Option<raft::eraftpb::Snapshot>,
    pub entries: Vec<Entry>,
    pub hard_state: Option<HardState>,
    pub valid_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalError {
    #[error("metadata log damaged at byte {at}, with whole records after it: {reason}")]
    Damaged { at: usize, reason: String },
    #[error("metadata log entry {index} at byte {at} follows entry {last}: a gap")]
    Gap { at: usize, index: u64, last: u64 },
}

pub fn encode(record: &WalRecord, out: &mut Vec<u8>) {
    let mut body = Vec::new();
    match record {
        WalRecord::Entry(e) => {
            body.push(KIND_ENTRY);
            body.extend_from_slice(&e.term.to_be_bytes());
            body.extend_from_slice(&e.index.to_be_bytes());
            body.push(e.get_entry_type() as u8);
            put_bytes(&mut body, &e.data);
            put_bytes(&mut body, &e.context);
        }
        WalRecord::HardState(h) => {
            body.push(KIND_HARD_STATE);
            body.extend_from_slice(&h.term.to_be_bytes());
            body.extend_from_slice(&h.vote.to_be_bytes());
            body.extend_from_slice(&h.commit.to_be_bytes());
        }
    }
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    out.extend_from_slice(&body);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

/// The record at the start of `buf` and its whole length, or why there is none.
fn decode_one(buf: &[u8]) -> Result<(WalRecord, usize), String> {
    if buf.len() < HEADER_BYTES {
        return Err(format!("{} bytes cannot hold a record header", buf.len()));
    }
    let len = u32::from_be_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_be_bytes(buf[4..8].try_into().expect("4 bytes"));
    let Some(body) = buf.get(HEADER_BYTES..HEADER_BYTES + len) else {
        return Err(format!(
            "a record of {len} bytes, {} left",
            buf.len() - HEADER_BYTES
        ));
    };
    if crc32c::crc32c(body) != crc {
        return Err("CRC mismatch".into());
    }
    let mut r = Reader(body);
    let record = match r.u8()? {
        KIND_ENTRY => {
            let mut e = Entry {
                term: r.u64()?,
                index: r.u64()?,
                ..Default::default()
            };
            let kind = match r.u8()? {
                0 => EntryType::EntryNormal,
                1 => EntryType::EntryConfChange,
                2 => EntryType::EntryConfChangeV2,
                other => return Err(format!("entry type {other}")),
            };
            e.set_entry_type(kind);
            e.data = r.bytes()?.into();
            e.context = r.bytes()?.into();
            WalRecord::Entry(e)
        }
        KIND_HARD_STATE => WalRecord::HardState(HardState {
            term: r.u64()?,
            vote: r.u64()?,
            commit: r.u64()?,
            ..Default::default()
        }),
        other => return Err(format!("record kind {other}")),
    };
    if !r.0.is_empty() {
        return Err(format!("{} bytes left in a record", r.0.len()));
    }
    Ok((record, HEADER_BYTES + len))
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.0.len() < n {
            return Err(format!("a field of {n} bytes, {} left", self.0.len()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let n = u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")) as usize;
        Ok(self.take(n)?.to_vec())
    }
}

/// Whether a whole, valid record starts anywhere in `buf`.
fn holds_a_record(buf: &[u8]) -> bool {
    (0..buf.len()).any(|at| decode_one(&buf[at..]).is_ok())
}

/// Reads a file back: its records up to a torn end.
pub fn recover(file: &[u8]) -> Result<Recovered, WalError> {
    let mut out = Recovered::default();
    let mut at = 0;
    while at < file.len() {
        let (record, len) = match decode_one(&file[at..]) {
            Ok(one) => one,
            Err(reason) => {
                // A torn end has nothing whole after it; damage elsewhere does.
                if holds_a_record(&file[at + 1..]) {
                    return Err(WalError::Damaged { at, reason });
                }
                break;
            }
        };
        match record {
            WalRecord::HardState(h) => out.hard_state = Some(h),
            WalRecord::Entry(e) => {
                let first = out.entries.first().map_or(e.index, |f| f.index);
                let last = out
                    .entries
                    .last()
                    .map_or(e.index.saturating_sub(1), |l| l.index);
                if e.index > last + 1 {
                    return Err(WalError::Gap {
                        at,
                        index: e.index,
                        last,
                    });
                }
                // An entry at an index held already replaces it and what follows.
                out.entries.truncate(e.index.saturating_sub(first) as usize);
                out.entries.push(e);
            }
        }
        at += len;
        out.valid_len = at;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
