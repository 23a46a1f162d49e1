//! `strata-bench run` and `strata-bench compare` (see README.md, "Performance").

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use strata_bench::{compare, runner, workload};

#[derive(Parser)]
#[command(
    name = "strata-bench",
    version,
    about = "Load generator for Kafka-compatible brokers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a preset workload and write its results to --out.
    Run {
        /// throughput, throughput-1k, latency, durable, fan-out (catch-up and log-size to come).
        #[arg(long)]
        preset: String,
        #[arg(long)]
        bootstrap: String,
        /// Override a parameter: record_bytes, batch_bytes, linger_ms, acks, partitions,
        /// producers, consumers, rate (0: closed loop), duration_s, warmup_s, max_in_flight,
        /// verify, threads, first_core, topic, ...
        #[arg(long = "set")]
        sets: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Compare runs side by side; writes OUT.svg and OUT.png with their percentile curves.
    Compare {
        dirs: Vec<PathBuf>,
        #[arg(long, default_value = "compare")]
        out: PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            preset,
            bootstrap,
            sets,
            out,
        } => (|| {
            let mut params = workload::preset(&preset)?;
            for s in &sets {
                params.set(s)?;
            }
            let summary = runner::run(runner::RunOptions {
                preset,
                bootstrap,
                params,
                out: out.clone(),
            })?;
            let text = compare::table(&[compare::load(&out)?]);
            println!("\n{text}");
            if let Some(v) = &summary.verify {
                println!("verify: {v:?}");
                if v.lost + v.duplicates + v.reordered > 0 {
                    return Err(
                        "verification found lost, duplicated or reordered records".to_string()
                    );
                }
            }
            println!("results in {}", out.display());
            Ok(())
        })(),
        Command::Compare { dirs, out } => compare::compare(&dirs, &out).map(|t| println!("{t}")),
    };
    if let Err(e) = result {
        eprintln!("strata-bench: {e}");
        std::process::exit(1);
    }
}
