//! `faultdisk --image disk.img --size-bytes 2147483648 --mount /tmp/fd`: serves `/tmp/fd/disk`
//! and `/tmp/fd/control` until SIGINT or SIGTERM (see the crate documentation).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

#[derive(Parser)]
struct Args {
    /// The durable contents (created sparse if missing).
    #[arg(long)]
    image: PathBuf,
    #[arg(long, default_value_t = 2 << 30)]
    size_bytes: u64,
    /// An empty directory to mount on.
    #[arg(long)]
    mount: PathBuf,
    /// The write cache writes itself back past this many dirty bytes.
    #[arg(long, default_value_t = 256 << 20)]
    max_dirty_bytes: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("signal handlers")?;
    let disk = strata_faultdisk::FaultDisk::mount(
        &args.image,
        args.size_bytes,
        &args.mount,
        args.max_dirty_bytes,
    )
    .with_context(|| format!("mounting the fault disk at {}", args.mount.display()))?;
    println!("serving {}", disk.disk_path().display());
    signals.forever().next();
    println!("{:?}", disk.stats());
    Ok(())
}
