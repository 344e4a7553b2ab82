//! The `ossup` executable: the window when run without a subcommand, `ossup serve` for
//! the local endpoint, otherwise the headless subcommands of [`ossup::cli`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use ossup::cli::{self, error::EXIT_SOME_FAILED};
use ossup::server::{self, ServeArgs};

/// Upload manager for Alibaba Cloud OSS: resumable multipart uploads, cleanup of
/// unfinished uploads, and a local OSS-compatible endpoint.
#[derive(Debug, Parser)]
#[command(name = "ossup", version, about)]
struct Args {
    /// Files or folders to upload as soon as the window opens; with a window open already
    /// they go to that window, which comes to the front. `--add` alone (a desktop entry
    /// started with no files) only opens or raises the window.
    #[arg(long = "add", value_name = "PATH", num_args = 0..)]
    add_paths: Vec<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local OSS-compatible endpoint backed by a directory.
    Serve(ServeArgs),
    #[command(flatten)]
    Transfer(cli::Command),
}

fn main() -> ExitCode {
    let matches = Args::command().get_matches();
    let mut args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // --include and --exclude combine in the order given, which only the matches know.
    if let (
        Some(Command::Transfer(cli::Command::Upload(upload))),
        Some(("upload", upload_matches)),
    ) = (&mut args.command, matches.subcommand())
    {
        upload.read_filter_order(upload_matches);
    }
    // Uploads report failures themselves, once, as sentences; the log adds only errors.
    init_logging(match args.command {
        Some(Command::Serve(_)) | None => "warn",
        Some(Command::Transfer(_)) => "error",
    });
    match args.command {
        Some(Command::Serve(args)) => match serve(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::from(EXIT_SOME_FAILED)
            }
        },
        Some(Command::Transfer(command)) => match cli::run(command) {
            Ok(outcome) => ExitCode::from(outcome.exit_code()),
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::from(error.exit_code())
            }
        },
        None => {
            let options = ossup::ui::RunOptions {
                add_paths: args.add_paths,
                ..ossup::ui::RunOptions::default()
            };
            match ossup::ui::run(options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::from(EXIT_SOME_FAILED)
                }
            }
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(server::serve(args))?;
    Ok(())
}

/// Diagnostics go to stderr, quiet unless `RUST_LOG` asks for more.
fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
