//! Waiting on shared limits within one shard: budgets of units, a lock that serves in order, and
//! racing two futures.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

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

/// An async lock handed to its waiters strictly in the order they asked. Release gives the lock
/// straight to the first waiter, so a newcomer can never take it between that waiter's wake-up
/// and its turn to run. glommio's semaphore and `futures`' Mutex both allow that overtaking,
/// and appends queued behind a segment roll must keep their requests' order: a pipelining
/// producer's batches would otherwise be stored out of order.
#[derive(Default)]
pub struct FifoLock {
    state: RefCell<LockState>,
}

#[derive(Default)]
struct LockState {
    held: bool,
    /// Waiters in arrival order. Empty whenever the lock is free: release hands it on.
    queue: VecDeque<Rc<Turn>>,
}

/// One waiter's place in the queue.
#[derive(Default)]
struct Turn {
    granted: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

/// Holds a `FifoLock` until dropped.
pub struct FifoGuard<'a>(&'a FifoLock);

impl FifoLock {
    pub fn new() -> Self {
        Self::default()
    }

    pub async fn lock(&self) -> FifoGuard<'_> {
        let turn = {
            let mut st = self.state.borrow_mut();
            if !st.held {
                st.held = true;
                return FifoGuard(self);
            }
            let turn = Rc::new(Turn::default());
            st.queue.push_back(turn.clone());
            turn
        };
        WaitTurn {
            lock: self,
            turn: Some(turn),
        }
        .await
    }

    /// Gives the lock to the first waiter, or frees it when none waits.
    fn release(&self) {
        let mut st = self.state.borrow_mut();
        match st.queue.pop_front() {
            Some(next) => {
                next.granted.set(true);
                if let Some(waker) = next.waker.take() {
                    waker.wake();
                }
            }
            None => st.held = false,
        }
    }
}

impl Drop for FifoGuard<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Waits for a queued turn; dropped before it ends, it leaves the queue (or, granted already,
/// hands the lock on).
struct WaitTurn<'a> {
    lock: &'a FifoLock,
    turn: Option<Rc<Turn>>,
}

impl<'a> Future for WaitTurn<'a> {
    type Output = FifoGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<FifoGuard<'a>> {
        let turn = self.turn.as_ref().expect("WaitTurn polled after it ended");
        if turn.granted.get() {
            self.turn = None;
            return Poll::Ready(FifoGuard(self.lock));
        }
        turn.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for WaitTurn<'_> {
    fn drop(&mut self) {
        let Some(turn) = self.turn.take() else {
            return;
        };
        if turn.granted.get() {
            self.lock.release();
        } else {
            self.lock
                .state
                .borrow_mut()
                .queue
                .retain(|t| !Rc::ptr_eq(t, &turn));
        }
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
