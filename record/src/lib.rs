//! Kafka's record batch, magic v2, as it travels on the wire and lies on disk: header fields,
//! validation (length, magic, CRC32C, counts), the base-offset rewrite a leader makes, building
//! batches (for clients, tests and benchmarks), and Kafka's clock (ms since the Unix epoch).
//!
//! It must never do I/O or know the network, the runtime or the storage engine: the broker,
//! the engine, the client and the load generator all share it.

pub mod batch;
pub mod clock;
pub mod testkit;
