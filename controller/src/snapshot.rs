//! Snapshots of the metadata: the image as of an applied index, carried in a Raft snapshot whose
//! metadata (index, term, voters) lets the log before it go. A node takes one every so many
//! entries and drops the log before it; a restart begins from the newest snapshot file and the
//! log after it; a follower too far behind the leader's log is sent the leader's snapshot.
//!
//! The file: `[crc32c u32 BE][Raft snapshot, protobuf]`, replaced whole (written aside, synced,
//! renamed), so it is either the old one or the new one.

use protobuf::Message as _;
use raft::eraftpb::Snapshot;
use serde::{Deserialize, Serialize};

use crate::image::MetadataImage;

/// The encoding of a snapshot's data this build writes and reads.
const DATA_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct SnapshotData {
    v: u32,
    image: MetadataImage,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("a snapshot file of {0} bytes is too short")]
    Short(usize),
    #[error("the snapshot file's checksum does not match: damaged")]
    Checksum,
    #[error("the snapshot does not decode: {0}")]
    Undecodable(String),
    #[error("a snapshot of encoding v{0}; this build reads v{DATA_VERSION}")]
    Version(u32),
}

/// A snapshot's data: the image.
pub fn encode_image(image: &MetadataImage) -> Vec<u8> {
    serde_json::to_vec(&SnapshotData {
        v: DATA_VERSION,
        image: image.clone(),
    })
    .expect("an image serializes")
}

pub fn decode_image(data: &[u8]) -> Result<MetadataImage, SnapshotError> {
    let d: SnapshotData =
        serde_json::from_slice(data).map_err(|e| SnapshotError::Undecodable(e.to_string()))?;
    if d.v != DATA_VERSION {
        return Err(SnapshotError::Version(d.v));
    }
    Ok(d.image)
}

/// The bytes of a snapshot file.
pub fn file_bytes(snapshot: &Snapshot) -> Vec<u8> {
    let body = snapshot
        .write_to_bytes()
        .expect("a snapshot encodes into a vector");
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// A snapshot file read back; damage is an error (a snapshot is written whole or not at all).
pub fn read_file(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    if bytes.len() < 4 {
        return Err(SnapshotError::Short(bytes.len()));
    }
    let (crc, body) = bytes.split_at(4);
    if crc32c::crc32c(body).to_be_bytes() != crc {
        return Err(SnapshotError::Checksum);
    }
    let snapshot =
        Snapshot::parse_from_bytes(body).map_err(|e| SnapshotError::Undecodable(e.to_string()))?;
    decode_image(snapshot.get_data())?;
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_file_reads_back_and_damage_is_refused() {
        let image = MetadataImage {
            applied_index: 7,
            next_producer_id: 3000,
            ..Default::default()
        };
        let mut snapshot = Snapshot::default();
        snapshot.set_data(encode_image(&image).into());
        snapshot.mut_metadata().index = 9;
        snapshot.mut_metadata().term = 2;
        let bytes = file_bytes(&snapshot);
        let back = read_file(&bytes).unwrap();
        assert_eq!(back.get_metadata().index, 9);
        assert_eq!(decode_image(back.get_data()).unwrap(), image);
        for at in [0, 5, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x40;
            assert!(read_file(&bad).is_err(), "byte {at}");
        }
        assert!(read_file(&bytes[..3]).is_err());
    }
}
