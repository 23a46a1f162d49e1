//! Which topic a partition's directory belongs to: `partition.metadata` in it, in Kafka's name
//! and format (`version: 0`, `topic_id: <id>`). Directories are named by topic name and
//! partition, so a topic deleted and created again under its name would otherwise find the old
//! one's records: a directory that names another topic id is removed before the partition is
//! opened. A directory without the file (written before it existed) is taken and marked.

use std::path::{Path, PathBuf};

use strata_runtime as rt;

const FILE: &str = "partition.metadata";

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The topic id the directory's file names; None without a file (or a file that names none).
pub async fn topic_of(dir: &Path) -> Option<uuid::Uuid> {
    let bytes = rt::fs::read_if_exists(&path(dir)).await.ok()??;
    String::from_utf8_lossy(&bytes)
        .lines()
        .find_map(|l| l.strip_prefix("topic_id:"))
        .and_then(|id| uuid::Uuid::parse_str(id.trim()).ok())
}

/// Names `topic_id` in the directory's file. Not synced: a file lost to a crash is written
/// again at the next open, and until then the directory is taken as this topic's, as before.
pub async fn mark(dir: &Path, topic_id: uuid::Uuid) {
    let file = path(dir);
    let text = format!("version: 0\ntopic_id: {topic_id}\n");
    let written = rt::blocking({
        let file = file.clone();
        move || std::fs::write(&file, text)
    })
    .await;
    if let Err(e) = written {
        tracing::warn!(file = %file.display(), "writing the partition's topic id: {e}");
    }
}
