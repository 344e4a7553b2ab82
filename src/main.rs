//! The `ossup` command line.

use clap::{Parser, Subcommand};

use ossup::server::{self, ServeArgs};

/// Upload manager for Alibaba Cloud OSS.
#[derive(Debug, Parser)]
#[command(name = "ossup", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local OSS-compatible endpoint backed by a directory.
    Serve(ServeArgs),
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> anyhow::Result<()> {
    init_logging();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Serve(args)) => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(server::serve(args))?;
        }
        None => {
            eprintln!("ossup: the window is not part of this build yet; try `ossup serve --help`");
        }
    }
    Ok(())
}
