//! `strata serve`: runs a broker until SIGINT or SIGTERM.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use strata_shards::{Broker, BrokerConfig};

#[derive(Parser)]
#[command(name = "strata", version, about = "A Kafka-compatible commit log")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Kafka protocol (the default command).
    Serve(ServeArgs),
    /// Ask a running cluster.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Brokers, the controller quorum and each partition's leader, asked of one broker.
    Describe {
        /// A broker's HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// TOML file with any of the settings (see README.md); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where the logs live [default: ./strata-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:9092].
    #[arg(long)]
    listen: Option<String>,
    /// HOST:PORT given to clients in Metadata [default: the listen address].
    #[arg(long)]
    advertise: Option<String>,
    /// Shards (pinned executors) [default: one per core].
    #[arg(long)]
    shards: Option<usize>,
    /// This broker's node id [default: 0].
    #[arg(long)]
    node_id: Option<i32>,
    /// The controller quorum, ID@HOST:PORT,... [default: this node alone].
    #[arg(long)]
    controller_quorum: Option<String>,
    /// Run no controller: register with the quorum's and follow its metadata.
    #[arg(long)]
    broker_only: bool,
    /// Print each shard's request stage timings (percentiles, microseconds) to stderr every
    /// MS milliseconds and at stop [default MS: 10000] (`latency_report_interval_ms`).
    #[arg(long, value_name = "MS", num_args = 0..=1, default_missing_value = "10000")]
    latency_report: Option<u64>,
}

fn config_from(args: ServeArgs) -> Result<BrokerConfig, String> {
    let mut config = match &args.config {
        Some(path) => BrokerConfig::from_file(path).map_err(|e| e.to_string())?,
        None => BrokerConfig::default(),
    };
    if let Some(v) = args.data_dir {
        config.data_dir = v;
    }
    if let Some(v) = args.listen {
        config.listen = v;
    }
    if let Some(v) = args.advertise {
        config.advertise = Some(v);
    }
    if let Some(v) = args.shards {
        config.shards = v;
    }
    if let Some(v) = args.node_id {
        config.node_id = v;
    }
    if let Some(v) = args.controller_quorum {
        config.controller_quorum = v;
    }
    if args.broker_only {
        config.broker_only = true;
    }
    if let Some(ms) = args.latency_report {
        config.latency_report_interval_ms = ms;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(a)) => a,
        Some(Command::Cluster(ClusterCommand::Describe { bootstrap, json })) => {
            match strata_shards::cluster_cli::describe(&bootstrap) {
                Ok(d) if json => println!(
                    "{}",
                    serde_json::to_string(&d).expect("a description serializes")
                ),
                Ok(d) => print!("{}", d.text()),
                Err(e) => {
                    eprintln!("strata: {e}");
                    std::process::exit(1);
                }
            }
            return;
        }
        None => ServeArgs::default(),
    };
    let config = match config_from(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strata: {e}");
            std::process::exit(2);
        }
    };
    let mut broker = match Broker::start(config) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("strata: {e}");
            std::process::exit(1);
        }
    };
    let mut signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("strata: installing signal handlers: {e}");
            std::process::exit(1);
        }
    };
    if let Some(signal) = signals.forever().next() {
        tracing::info!(signal, "stopping");
    }
    broker.stop();
    match broker.wait() {
        Ok(()) => tracing::info!("stopped cleanly"),
        Err(e) => {
            eprintln!("strata: {e}");
            std::process::exit(1);
        }
    }
}
