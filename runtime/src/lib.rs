//! Strata's runtime seam: everything the project takes from its async runtime (glommio today)
//! goes through this crate: executors pinned per core, tasks and timers, O_DIRECT files through
//! io_uring, directory operations off the shard thread, TCP sockets, the channel mesh between
//! shards, budgets, and per-thread stage timings. A move to raw io_uring or another runtime changes this crate only.
//!
//! It must never know Kafka, record batches or partitions, and never expose a type of the
//! runtime underneath (callers see our `Stream`, `DirectFile`, `Mesh`, ...). Nothing here blocks
//! the calling thread but `block_on`.

mod executor;
mod file;
pub mod fs;
mod mesh;
mod net;
mod sync;
pub mod timings;

pub use executor::{
    block_on, blocking, sleep, spawn, spawn_detached, spawn_executor, yield_now, ExecutorSettings,
};
pub use file::{align_down, align_up, BlockBuf, DirectFile, SharedFile, BLOCK_BYTES};
pub use fs::sync_dir;
pub use mesh::{Mesh, MeshJoinFailed, ShardReceivers, ShardSenders};
pub use net::{connect, Listener, Stream};
pub use sync::{first, Budget, FifoGuard, FifoLock, Taken};
