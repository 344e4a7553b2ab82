//! ossup: an upload manager for Alibaba Cloud OSS.
//!
//! Layers, each depending only on the ones below it:
//!
//! - [`ui`]: the egui window (never awaits, never does I/O).
//! - [`cli`]: the headless front end with terminal progress bars.
//! - [`engine`]: the tokio transfer engine behind channels: planning, parallel parts,
//!   retry, pause/resume/abort, crash-safe sessions, remote-upload cleanup.
//! - [`protocol`]: the OSS wire format: signing, XML, errors, CRC-64, the HTTP client.
//! - [`server`]: `ossup serve`, a local OSS-compatible endpoint built on `protocol`.
//! - [`durable`]: the one crash-safe write (temp file, fsync, rename, fsync of the
//!   directory), a leaf every layer may use.
//! - [`stop_signal`]: Ctrl-C, SIGTERM and SIGHUP as one future the front ends answer by
//!   pausing.

pub mod cli;
pub mod config;
pub mod durable;
pub mod engine;
pub mod protocol;
pub mod server;
pub mod stop_signal;
pub mod ui;
