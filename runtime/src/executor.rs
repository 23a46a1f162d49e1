//! Executors (one per shard, pinned), tasks, timers, and a pool thread for the few blocking
//! system calls that have no io_uring form.

use std::future::Future;
use std::io;
use std::time::Duration;

/// Executor settings sized for this class of host: io_uring registered memory counts against
/// `ulimit -l` (8 MiB here), so each shard takes a small slice; see tuning/GUIDE.md.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    pub name: String,
    /// CPU to pin the executor to; `None` lets it float (tests, tools).
    pub cpu: Option<usize>,
    pub io_memory_bytes: usize,
    pub ring_depth: usize,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        ExecutorSettings {
            name: "strata".into(),
            cpu: None,
            io_memory_bytes: 2 << 20,
            ring_depth: 128,
        }
    }
}

fn builder(settings: &ExecutorSettings) -> glommio::LocalExecutorBuilder {
    let placement = match settings.cpu {
        Some(cpu) => glommio::Placement::Fixed(cpu),
        None => glommio::Placement::Unbound,
    };
    glommio::LocalExecutorBuilder::new(placement)
        .name(&settings.name)
        .io_memory(settings.io_memory_bytes)
        .ring_depth(settings.ring_depth)
}

/// Runs `fut` to completion on a new executor in the calling thread.
pub fn block_on<T, F>(settings: &ExecutorSettings, fut: F) -> io::Result<T>
where
    F: Future<Output = T>,
{
    let ex = builder(settings).make().map_err(io::Error::from)?;
    Ok(ex.run(async move {
        let out = fut.await;
        // Files dropped without an explicit close are closed by the reactor on its next cycle;
        // give it that cycle, or an executor that ends leaks their descriptors.
        glommio::timer::sleep(Duration::from_millis(1)).await;
        out
    }))
}

/// Starts an executor on its own thread and runs the future made by `make` on it.
pub fn spawn_executor<T, G, F>(
    settings: &ExecutorSettings,
    make: G,
) -> io::Result<std::thread::JoinHandle<T>>
where
    G: FnOnce() -> F + Send + 'static,
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let settings = settings.clone();
    std::thread::Builder::new()
        .name(settings.name.clone())
        .spawn(
            move || match block_on(&settings, async move { make().await }) {
                Ok(v) => v,
                Err(e) => panic!("executor {} failed to start: {e}", settings.name),
            },
        )
}

/// Spawns a task on the current executor that runs on its own.
pub fn spawn_detached(fut: impl Future<Output = ()> + 'static) {
    glommio::spawn_local(fut).detach();
}

/// Spawns a task on the current executor; the handle is a future of its output.
pub fn spawn<T: 'static>(fut: impl Future<Output = T> + 'static) -> impl Future<Output = T> {
    glommio::spawn_local(fut)
}

/// Lets every other ready task of this executor run once before the caller goes on.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
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

pub async fn sleep(d: Duration) {
    glommio::timer::sleep(d).await
}

/// Runs `f` on the executor's blocking-call thread and waits for it without blocking the shard:
/// for system calls io_uring has no form of (directory listing and removal, renames).
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    glommio::executor().spawn_blocking(f).await
}
