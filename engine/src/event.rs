//! A one-shot broadcast for single-threaded tasks: waiters park until the next `notify_all`.

use std::cell::RefCell;

use futures::channel::oneshot;

#[derive(Default)]
pub struct Event {
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

impl Event {
    /// A future that completes at the next `notify_all` after this call.
    pub fn listen(&self) -> impl std::future::Future<Output = ()> {
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().push(tx);
        async move {
            let _ = rx.await;
        }
    }

    pub fn notify_all(&self) {
        for w in self.waiters.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }
}
