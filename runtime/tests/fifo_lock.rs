//! FifoLock: waiters get the lock in the order they asked, even when a newcomer asks between a
//! release and the first waiter's turn to run; a waiter that gives up leaves the queue.

use std::cell::RefCell;
use std::rc::Rc;

use futures::FutureExt;
use strata_runtime::{block_on, spawn, ExecutorSettings, FifoLock};

fn settings() -> ExecutorSettings {
    ExecutorSettings {
        name: "fifo-lock".into(),
        io_memory_bytes: 256 << 10,
        ring_depth: 16,
        ..Default::default()
    }
}

/// Lets every other ready task run once.
async fn yield_once() {
    let mut yielded = false;
    futures::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

#[test]
fn a_newcomer_never_takes_the_lock_ahead_of_a_queued_waiter() {
    block_on(&settings(), async {
        let lock = Rc::new(FifoLock::new());
        let order = Rc::new(RefCell::new(Vec::new()));
        let held = lock.lock().await;
        let waiters: Vec<_> = (0..3)
            .map(|i| {
                let (lock, order) = (lock.clone(), order.clone());
                spawn(async move {
                    let _g = lock.lock().await;
                    order.borrow_mut().push(format!("waiter {i}"));
                    yield_once().await;
                })
            })
            .collect();
        yield_once().await; // all three are queued now
        drop(held);
        // Asks at once, before the woken first waiter has run.
        let guard = lock.lock().await;
        order.borrow_mut().push("newcomer".to_string());
        drop(guard);
        for w in waiters {
            w.await;
        }
        assert_eq!(
            *order.borrow(),
            ["waiter 0", "waiter 1", "waiter 2", "newcomer"]
        );
    })
    .unwrap();
}

#[test]
fn a_waiter_that_gives_up_leaves_the_queue_and_passes_on_a_lock_it_was_given() {
    block_on(&settings(), async {
        let lock = FifoLock::new();
        let held = lock.lock().await;
        // Queued, then dropped before its turn: the lock must not wait for it.
        assert!(lock.lock().now_or_never().is_none());
        drop(held);
        let again = lock
            .lock()
            .now_or_never()
            .expect("free once its holder left");
        // Queued, handed the lock by the release, then dropped without running: it passes the
        // lock on to the next waiter.
        let mut given_up = Box::pin(lock.lock());
        assert!((&mut given_up).now_or_never().is_none());
        let mut next = Box::pin(lock.lock());
        assert!((&mut next).now_or_never().is_none());
        drop(again);
        drop(given_up);
        let last = next
            .now_or_never()
            .expect("handed on by the waiter that gave up");
        drop(last);
        assert!(lock.lock().now_or_never().is_some(), "free at the end");
    })
    .unwrap();
}
