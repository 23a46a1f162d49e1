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

/// How far the local shards have applied the metadata log.
#[derive(Default)]
pub struct Published {
    index: Cell<u64>,
    /// Publishes done (any image, also one that only names a new controller).
    rounds: Cell<u64>,
    waiters: RefCell<Vec<(u64, oneshot::Sender<()>)>>,
}

impl Published {
    pub fn index(&self) -> u64 {
        self.index.get()
    }

    pub fn rounds(&self) -> u64 {
        self.rounds.get()
    }

    fn done(&self, index: u64) {
        self.index.set(self.index.get().max(index));
        self.rounds.set(self.rounds.get() + 1);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        let (ready, waiting): (Vec<_>, Vec<_>) =
            waiters.into_iter().partition(|(i, _)| *i <= index);
        *self.waiters.borrow_mut() = waiting;
        for (_, reply) in ready {
            let _ = reply.send(());
        }
    }

    /// Waits until every local shard has applied entry `index`; false after `timeout`.
    pub async fn wait_for(&self, index: u64, timeout: Duration) -> bool {
        if self.index.get() >= index {
            return true;
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().push((index, tx));
        matches!(
            first(rx, rt::sleep(timeout)).await,
            futures::future::Either::Left(Ok(()))
        )
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
        while let Some(mut item) = images.next().await {
            while let Ok(newer) = images.try_recv() {
                item = newer;
            }
            let (image, controller) = item;
            let table = table_of(&image, controller);
            // The first table is what this node had before it started: nothing in it is new
            // (what is on disk is kept), nothing removed.
            let change = match &before {
                None => TopicChange::default(),
                Some(old) => change_between(old, &table, me),
            };
            if let Err(e) = shard
                .broadcast_topics(Arc::new(table.clone()), change)
                .await
            {
                tracing::error!(
                    index = image.applied_index,
                    "applying the cluster's metadata on this broker: {e}"
                );
            }
            before = Some(table);
            published.done(image.applied_index);
        }
    });
}
