//! `strata-bench run` and `strata-bench compare` (see README.md, "Performance").

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use strata_bench::{compare, phases, runner, workload};

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
        /// throughput, throughput-1k, latency, durable, catch-up, fan-out, log-size.
        #[arg(long)]
        preset: String,
        #[arg(long)]
        bootstrap: String,
        /// Override a parameter: record_bytes, batch_bytes, linger_ms or linger_us, acks, partitions,
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
            if preset == "catch-up" {
                let r = phases::catch_up(&bootstrap, &params, params.backlog_bytes, &out)?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
                );
                return Ok(());
            }
            if preset == "log-size" {
                let measure = std::time::Duration::from_secs(params.duration_s);
                let r = phases::log_size(
                    &bootstrap,
                    &params,
                    params.small_log_bytes,
                    params.large_log_bytes,
                    measure,
                    &out,
                )?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
                );
                return Ok(());
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
