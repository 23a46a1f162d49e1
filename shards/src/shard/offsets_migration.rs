//! Committed offsets an older broker kept in its own per-shard stores (`legacy_offsets`), moved
//! into `__consumer_offsets` as each of its partitions is loaded here, before that partition
//! answers for its groups: a consumer never finds its group without the offsets it committed
//! before the upgrade.
//!
//! Shard 0 reads the old stores at start, before any partition loads, and hands each loading
//! shard the groups of its partition. Only once a group's offsets are in the log (acks=all) is
//! it struck off; when none is left, the old stores are removed. A group whose partition is
//! led by another broker stays in the old store (and is kept) until this broker leads it.

use std::collections::BTreeMap;

use super::Shard;
use crate::groups::legacy_offsets::{self, LegacyOffsets};
use crate::groups::offsets::{Committed, OffsetChange};
use crate::router::ShardMsg;

/// One group's offsets in the old stores: (topic, partition, committed).
type GroupItems = Vec<(String, i32, Committed)>;

/// The old stores, with the groups not yet moved.
type Unmigrated = (LegacyOffsets, BTreeMap<String, GroupItems>);

/// Shard 0's copy of the old stores, while some of their groups are not migrated.
#[derive(Default)]
pub struct Pending {
    old: std::cell::RefCell<Option<Unmigrated>>,
}

/// Each group's offsets, for one partition of the offsets topic.
pub type LegacyGroups = Vec<(String, GroupItems)>;

impl Shard {
    /// Shard 0, at start: reads what an older broker left (an unreadable store stops the start:
    /// its offsets would otherwise be lost without a word).
    pub(crate) async fn read_legacy_offsets(&self) -> Result<(), crate::error::BrokerError> {
        let old = legacy_offsets::read_all(&self.config.data_dir).await?;
        if old.dirs.is_empty() && old.files.is_empty() {
            return Ok(());
        }
        let groups = old.by_group();
        tracing::info!(
            groups = groups.len(),
            "committed offsets of an older broker found: they move into __consumer_offsets \
             as its partitions load"
        );
        *self.legacy_offsets.old.borrow_mut() = Some((old, groups));
        self.remove_legacy_if_done().await;
        Ok(())
    }

    /// The old stores' groups of offsets partition `p` of `count` (from shard 0).
    async fn legacy_groups(&self, p: i32, count: i32) -> LegacyGroups {
        if self.id != 0 {
            return self
                .ask(0, |reply| ShardMsg::LegacyGroups {
                    partition: p,
                    count,
                    reply,
                })
                .await
                .unwrap_or_default();
        }
        self.legacy_groups_local(p, count)
    }

    pub(super) fn legacy_groups_local(&self, p: i32, count: i32) -> LegacyGroups {
        let old = self.legacy_offsets.old.borrow();
        let Some((_, groups)) = old.as_ref() else {
            return Vec::new();
        };
        groups
            .iter()
            .filter(|(g, _)| strata_controller::coordinator::offsets_partition(g, count) == p)
            .map(|(g, items)| (g.clone(), items.clone()))
            .collect()
    }

    /// Strikes groups off (on shard 0): their offsets are in the offsets topic.
    async fn legacy_migrated(&self, groups: Vec<String>) {
        if self.id != 0 {
            let _ = self
                .ask(0, |reply| ShardMsg::LegacyMigrated { groups, reply })
                .await;
            return;
        }
        self.legacy_migrated_local(groups).await;
    }

    pub(super) async fn legacy_migrated_local(&self, groups: Vec<String>) {
        if let Some((_, pending)) = self.legacy_offsets.old.borrow_mut().as_mut() {
            for g in &groups {
                pending.remove(g);
            }
        }
        self.remove_legacy_if_done().await;
    }

    async fn remove_legacy_if_done(&self) {
        let done = self
            .legacy_offsets
            .old
            .borrow()
            .as_ref()
            .is_some_and(|(_, pending)| pending.is_empty());
        if !done {
            return;
        }
        let Some((old, _)) = self.legacy_offsets.old.borrow_mut().take() else {
            return;
        };
        match old.remove(&self.config.data_dir).await {
            Ok(()) => tracing::info!(
                "every committed offset of the older broker is in __consumer_offsets: its \
                 stores are removed"
            ),
            // Removed or not, nothing is lost: the offsets are in the topic, and a later start
            // writes only what the topic lacks.
            Err(e) => tracing::warn!("removing the older broker's offset stores: {e}"),
        }
    }

    /// Writes into partition `p` (led here, being loaded) the old stores' offsets of its
    /// groups that the log has no record of; retried until it works or the leadership goes.
    /// `seen` says whether the log has a record (a commit or a deletion) for a key. Some(true)
    /// when it wrote, Some(false) when there was nothing to write, None when the leadership
    /// went first.
    pub(super) async fn migrate_legacy_offsets(
        &self,
        p: i32,
        count: i32,
        leader_epoch: i32,
        seen: impl Fn(&crate::groups::offsets::OffsetKey) -> bool,
    ) -> Option<bool> {
        let groups = self.legacy_groups(p, count).await;
        if groups.is_empty() {
            return Some(false);
        }
        let changes: Vec<OffsetChange> = groups
            .iter()
            .flat_map(|(g, items)| {
                items
                    .iter()
                    .map(|(t, part, c)| ((g.clone(), t.clone(), *part), Some(c.clone())))
            })
            .filter(|(k, _)| !seen(k))
            .collect();
        while !changes.is_empty() {
            let still = self
                .groups
                .get()
                .is_some_and(|c| c.held().contains(&(p, leader_epoch)));
            if !still {
                return None;
            }
            match self.write_offsets(p, changes.clone()).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(
                        partition = p,
                        "moving older committed offsets: {e}; retrying"
                    );
                    strata_runtime::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
        tracing::info!(
            partition = p,
            groups = groups.len(),
            offsets = changes.len(),
            "moved an older broker's committed offsets into __consumer_offsets"
        );
        self.legacy_migrated(groups.into_iter().map(|(g, _)| g).collect())
            .await;
        Some(!changes.is_empty())
    }
}
