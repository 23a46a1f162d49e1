//! From applied metadata to the shards: the publisher task on shard 0 takes each new image
//! (coalescing when it falls behind), turns it into the topic table, and has every shard apply
//! it (open the logs of partitions this node now keeps, close and delete those it no longer
//! does) through the mesh, as topic changes always travelled. Proposals wait on `Published`
//! until their entry is visible on every local shard before they answer a client.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::StreamExt;
use strata_controller::MetadataImage;
use strata_runtime::{self as rt, first};

use super::view::{change_between, table_of};
use crate::error::BrokerError;
use crate::router::TopicChange;
use crate::shard::Shard;
use crate::topics::TopicTable;

/// Where new images go; the publisher reads them.
#[derive(Clone)]
pub struct ImageSink(mpsc::UnboundedSender<(Arc<MetadataImage>, i32)>);

impl ImageSink {
    pub fn new() -> (
        ImageSink,
        mpsc::UnboundedReceiver<(Arc<MetadataImage>, i32)>,
    ) {
        let (tx, rx) = mpsc::unbounded();
        (ImageSink(tx), rx)
    }

    /// Hands on `image`, with `controller` the quorum's leader (-1: none known).
    pub fn publish(&self, image: Arc<MetadataImage>, controller: i32) {
        let _ = self.0.unbounded_send((image, controller));
    }
}

/// How long a publish with partitions that did not open waits before it tries them again.
const RETRY_OFFLINE: Duration = Duration::from_secs(1);

/// What became of an entry on this node's shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// Applied, but partitions of `topics` did not open (they stay offline and are tried
    /// again).
    Failed {
        topics: Vec<String>,
        why: String,
    },
    TimedOut,
}

/// How far the local shards have applied the metadata log.
#[derive(Default)]
pub struct Published {
    index: Cell<u64>,
    waiters: RefCell<Vec<(u64, oneshot::Sender<Applied>)>>,
}

impl Published {
    pub fn index(&self) -> u64 {
        self.index.get()
    }

    /// Entry `index` is applied on every local shard; `failed` names partitions that did not
    /// open, for whoever waited for it.
    fn done(&self, index: u64, outcome: Applied) {
        self.index.set(self.index.get().max(index));
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        let (ready, waiting): (Vec<_>, Vec<_>) =
            waiters.into_iter().partition(|(i, _)| *i <= index);
        *self.waiters.borrow_mut() = waiting;
        for (_, reply) in ready {
            let _ = reply.send(outcome.clone());
        }
    }

    /// Waits until every local shard has applied entry `index`.
    pub async fn wait_for(&self, index: u64, timeout: Duration) -> Applied {
        if self.index.get() >= index {
            return Applied::Done;
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().push((index, tx));
        match first(rx, rt::sleep(timeout)).await {
            futures::future::Either::Left(Ok(outcome)) => outcome,
            _ => Applied::TimedOut,
        }
    }
}

/// Runs the publisher for node `me` until the sink's senders are gone.
pub fn start_publisher(
    shard: Rc<Shard>,
    me: i32,
    mut images: mpsc::UnboundedReceiver<(Arc<MetadataImage>, i32)>,
    published: Rc<Published>,
) {
    rt::spawn_detached(async move {
        let mut before: Option<TopicTable> = None;
        // The last image, while some of its partitions did not open: tried again.
        let mut offline: Option<(Arc<MetadataImage>, i32)> = None;
        loop {
            let next = match &offline {
                None => images.next().await,
                Some(last) => match first(images.next(), rt::sleep(RETRY_OFFLINE)).await {
                    futures::future::Either::Left(item) => item,
                    futures::future::Either::Right(()) => Some(last.clone()),
                },
            };
            let Some(mut item) = next else {
                return;
            };
            while let Ok(newer) = images.try_recv() {
                item = newer;
            }
            let (image, controller) = item.clone();
            let table = table_of(&image, controller);
            // The first table is what this node had before it started: nothing in it is new
            // (what is on disk is kept), nothing removed.
            let change = match &before {
                None => TopicChange::default(),
                Some(old) => change_between(old, &table, me),
            };
            let outcome = match shard
                .broadcast_topics(Arc::new(table.clone()), change)
                .await
            {
                Ok(()) => Applied::Done,
                Err(e) => {
                    if offline.is_none() {
                        tracing::error!(
                            index = image.applied_index,
                            "applying the cluster's metadata on this broker: {e}"
                        );
                    }
                    let topics = match &e {
                        BrokerError::PartitionsOffline { topics, .. } => topics.clone(),
                        _ => table.topics.keys().cloned().collect(),
                    };
                    Applied::Failed {
                        topics,
                        why: e.to_string(),
                    }
                }
            };
            offline = (outcome != Applied::Done).then_some(item);
            before = Some(table);
            published.done(image.applied_index, outcome);
        }
    });
}
