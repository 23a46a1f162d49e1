//! Waiting on shared limits within one shard: budgets of units, a lock that serves in order, and
//! racing two futures.

use std::rc::Rc;

/// A budget of units (bytes, requests) that tasks take and give back, waiting when it is spent.
#[derive(Clone)]
pub struct Budget {
    semaphore: Rc<glommio::sync::Semaphore>,
    total: u64,
}

/// Units taken from a budget, given back on drop.
pub struct Taken(#[allow(dead_code)] glommio::sync::StaticPermit);

impl Budget {
    pub fn new(total: u64) -> Self {
        Budget {
            semaphore: Rc::new(glommio::sync::Semaphore::new(total)),
            total,
        }
    }

    /// Takes `units` (a request larger than the whole budget takes all of it), waiting until
    /// they are free.
    pub async fn take(&self, units: u64) -> Taken {
        let units = units.clamp(1, self.total);
        match self.semaphore.acquire_static_permit(units).await {
            Ok(p) => Taken(p),
            Err(e) => panic!("budget semaphore closed: {e}"),
        }
    }
}

/// An async lock whose waiters get it in the order they asked (glommio's semaphore queues
/// them; `futures`' Mutex lets a newcomer take a just-released lock ahead of them). Appends
/// queued behind a segment roll must keep the order their requests came in.
pub struct FifoLock(glommio::sync::Semaphore);

/// Holds a `FifoLock` until dropped.
pub struct FifoGuard<'a>(#[allow(dead_code)] glommio::sync::Permit<'a>);

impl FifoLock {
    pub fn new() -> Self {
        FifoLock(glommio::sync::Semaphore::new(1))
    }

    pub async fn lock(&self) -> FifoGuard<'_> {
        match self.0.acquire_permit(1).await {
            Ok(p) => FifoGuard(p),
            Err(e) => panic!("lock semaphore closed: {e}"),
        }
    }
}

impl Default for FifoLock {
    fn default() -> Self {
        Self::new()
    }
}

/// Either of two futures, whichever finishes first; the other is dropped.
pub async fn first<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> futures::future::Either<A::Output, B::Output> {
    use futures::future::{select, Either};
    match select(Box::pin(a), Box::pin(b)).await {
        Either::Left((x, _)) => Either::Left(x),
        Either::Right((y, _)) => Either::Right(y),
    }
}
