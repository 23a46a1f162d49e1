//! The leader's side of a follower's Fetch (a Fetch with a replica id): the follower's leader
//! epoch is checked (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH), its last fetched epoch is
//! checked against this log's epochs (a divergence is answered with where the follower's epoch
//! ends here, and no records: KIP-320), its fetch offset is taken as its log end (which may
//! move the high watermark), and it is sent what is written past that, high watermark or not.

use std::collections::HashMap;

use crate::router::{PartitionError, PartitionKey, PartitionReadResult, ShardMsg};
use crate::shard::Shard;

use super::roles::now_ms;

/// One partition of a follower's fetch.
#[derive(Debug, Clone)]
pub struct ReplicaFetch {
    pub key: PartitionKey,
    pub offset: i64,
    /// -1: not given.
    pub current_leader_epoch: i32,
    /// -1: not given.
    pub last_fetched_epoch: i32,
    pub max_bytes: usize,
}

#[derive(Debug, Default)]
pub struct ReplicaFetched {
    pub read: PartitionReadResult,
    /// The follower's log diverged: the largest epoch at or below its last fetched one, and
    /// where that epoch ends in this log.
    pub diverging: Option<(i32, i64)>,
}

impl Shard {
    /// Serves a follower's fetch of many partitions, each on its owner, all at once; results
    /// in the order asked.
    pub async fn replica_read(
        &self,
        follower: i32,
        reads: Vec<ReplicaFetch>,
    ) -> Vec<ReplicaFetched> {
        let mut by_owner: HashMap<usize, Vec<(usize, ReplicaFetch)>> = HashMap::new();
        for (i, r) in reads.into_iter().enumerate() {
            by_owner.entry(self.owner(&r.key)).or_default().push((i, r));
        }
        let n = by_owner.values().map(Vec::len).sum();
        let calls = by_owner.into_iter().map(|(owner, items)| async move {
            let (idx, reads): (Vec<usize>, Vec<ReplicaFetch>) = items.into_iter().unzip();
            let results = if owner == self.id {
                self.replica_read_local(follower, reads).await
            } else {
                let count = reads.len();
                self.ask(owner, |reply| ShardMsg::ReplicaRead {
                    follower,
                    reads,
                    reply,
                })
                .await
                .unwrap_or_else(|_| {
                    (0..count)
                        .map(|_| ReplicaFetched {
                            read: PartitionReadResult {
                                error: Some(PartitionError::OwnerGone),
                                ..Default::default()
                            },
                            diverging: None,
                        })
                        .collect()
                })
            };
            idx.into_iter().zip(results).collect::<Vec<_>>()
        });
        let mut out: Vec<ReplicaFetched> = (0..n).map(|_| Default::default()).collect();
        for part in futures::future::join_all(calls).await {
            for (i, r) in part {
                out[i] = r;
            }
        }
        out
    }

    pub(crate) async fn replica_read_local(
        &self,
        follower: i32,
        reads: Vec<ReplicaFetch>,
    ) -> Vec<ReplicaFetched> {
        let mut out = Vec::with_capacity(reads.len());
        for r in reads {
            out.push(match self.replica_read_one(follower, &r).await {
                Ok(fetched) => fetched,
                Err(e) => ReplicaFetched {
                    read: PartitionReadResult {
                        error: Some(e),
                        ..Default::default()
                    },
                    diverging: None,
                },
            });
        }
        out
    }

    async fn replica_read_one(
        &self,
        follower: i32,
        r: &ReplicaFetch,
    ) -> Result<ReplicaFetched, PartitionError> {
        let log = self.led_log(&r.key)?;
        let current = self
            .replicas
            .leading
            .borrow()
            .get(&r.key)
            .map(|s| s.leader_epoch)
            .ok_or(PartitionError::NotLeader { leader: -1 })?;
        if r.current_leader_epoch >= 0 && r.current_leader_epoch < current {
            return Err(PartitionError::FencedLeaderEpoch {
                asked: r.current_leader_epoch,
                current,
            });
        }
        if r.current_leader_epoch > current {
            return Err(PartitionError::UnknownLeaderEpoch {
                asked: r.current_leader_epoch,
                current,
            });
        }
        if r.last_fetched_epoch >= 0 {
            let (epoch, end) = log.end_offset_for(r.last_fetched_epoch);
            // This log knows epochs (-1: it cannot say, as a log from before them) and the
            // follower's last one ends here before its log does, or is not one of ours.
            if epoch >= 0 && (epoch < r.last_fetched_epoch || end < r.offset) {
                return Ok(ReplicaFetched {
                    read: PartitionReadResult {
                        error: None,
                        high_watermark: log.high_watermark(),
                        log_start_offset: log.log_start_offset(),
                        batches: Vec::new(),
                    },
                    diverging: Some((epoch, end)),
                });
            }
        }
        {
            let mut leading = self.replicas.leading.borrow_mut();
            if let Some(state) = leading.get_mut(&r.key) {
                if state.on_fetch(follower, r.offset, log.written_offset(), now_ms()) {
                    log.set_high_watermark(state.high_watermark());
                }
            }
        }
        match log.read_for_follower(r.offset, r.max_bytes).await {
            Ok(got) => Ok(ReplicaFetched {
                read: PartitionReadResult {
                    error: None,
                    high_watermark: got.high_watermark,
                    log_start_offset: got.log_start_offset,
                    batches: got.batches,
                },
                diverging: None,
            }),
            Err(e) => Ok(ReplicaFetched {
                // The follower needs the log's bounds to know where to go (its start, here).
                read: PartitionReadResult {
                    error: Some(e.into()),
                    high_watermark: log.high_watermark(),
                    log_start_offset: log.log_start_offset(),
                    batches: Vec::new(),
                },
                diverging: None,
            }),
        }
    }
}
