//! The executor the broker's unit tests run async code on: small, as tests run two at a time
//! and io_uring memory counts against `ulimit -l`.

use strata_runtime::{block_on, ExecutorSettings};

pub fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    let settings = ExecutorSettings {
        name: "test".into(),
        io_memory_bytes: 512 << 10,
        ring_depth: 64,
        ..Default::default()
    };
    block_on(&settings, f).expect("executor starts")
}
