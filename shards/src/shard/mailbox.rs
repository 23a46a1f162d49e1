//! The mailbox: what a shard does with a message from another shard. Messages arrive in order
//! per sender and are served at most `shard_channel_capacity` at once (server.rs).

use super::Shard;
use crate::router::ShardMsg;

impl Shard {
    /// Serves a message from another shard.
    pub async fn serve(&self, msg: ShardMsg) {
        match msg {
            ShardMsg::Group {
                group,
                partition,
                op,
                reply,
            } => {
                let _ = reply.send(self.group_local(&group, partition, op).await);
            }
            ShardMsg::LegacyGroups {
                partition,
                count,
                reply,
            } => {
                let _ = reply.send(self.legacy_groups_local(partition, count));
            }
            ShardMsg::LegacyMigrated { groups, reply } => {
                self.legacy_migrated_local(groups).await;
                let _ = reply.send(());
            }
            ShardMsg::BumpProducerEpoch {
                producer_id,
                epoch,
                reply,
            } => {
                let _ = reply.send(self.bump_producer_epoch_local(producer_id, epoch).await);
            }
            ShardMsg::Produce {
                key,
                records,
                acks,
                sent_at,
                reply,
            } => {
                strata_runtime::timings::record_since(crate::latency::PRODUCE_FORWARD, sent_at);
                let _ = reply.send(self.produce_local(&key, records, acks).await);
            }
            ShardMsg::Read { reads, reply } => {
                let _ = reply.send(self.read_local(reads).await);
            }
            ShardMsg::WaitForData {
                partitions,
                max_wait,
                written,
                mut reply,
            } => {
                // The asker stops listening as soon as any partition of its fetch has data,
                // maybe one on another shard: stop waiting then too. A wait left to run out its
                // `max_wait` holds a timer and is woken by every write meanwhile; at thousands
                // of fetches a second those stale waits cost more than the fetches.
                let asker_gone = {
                    let wait = std::pin::pin!(self.wait_local(partitions, max_wait, written));
                    let gone = std::pin::pin!(reply.cancellation());
                    matches!(
                        futures::future::select(wait, gone).await,
                        futures::future::Either::Right(_)
                    )
                };
                if !asker_gone {
                    let _ = reply.send(());
                }
            }
            ShardMsg::AlterIsr { changes, reply } => {
                let _ = reply.send(self.alter_isr(changes).await);
            }
            ShardMsg::ReplicaRead {
                follower,
                reads,
                reply,
            } => {
                let _ = reply.send(self.replica_read_local(follower, reads).await);
            }
            ShardMsg::EpochEnd {
                key,
                current,
                epoch,
                reply,
            } => {
                let _ = reply.send(self.epoch_end(key, current, epoch).await);
            }
            ShardMsg::ListOffset { key, query, reply } => {
                let _ = reply.send(self.list_offset(key, query).await);
            }
            ShardMsg::PartitionFacts { key, reply } => {
                let _ = reply.send(self.partition_facts(key).await);
            }
            ShardMsg::DeleteRecords { key, before, reply } => {
                let _ = reply.send(self.delete_records(key, before).await);
            }
            ShardMsg::QuorumState { reply } => {
                let _ = reply.send(self.quorum_state().await);
            }
            ShardMsg::ReserveProducerIds { reply } => {
                let _ = reply.send(self.reserve_producer_ids().await);
            }
            ShardMsg::Admin { op, reply } => {
                let _ = reply.send(self.admin_local(op).await);
            }
            ShardMsg::ApplyTopics {
                table,
                change,
                reply,
            } => {
                let _ = reply.send(self.apply_topics(table, change).await);
            }
        }
    }
}
