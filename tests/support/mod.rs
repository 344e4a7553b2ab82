//! The one fixture of the integration tests: an in-process `ossup serve` on 127.0.0.1:0
//! with clients for any key pair (`server`), an engine pointed at it and a watcher of its
//! events (`engine`), the `ossup` binary with a private home (`cli`), the window inside
//! egui_kittest (`ui`), and deterministic test data (`data`).
//!
//! Every integration test file is a crate of its own and uses the parts it needs, hence
//! `dead_code` is allowed here.

#![allow(dead_code)]

pub mod cli;
pub mod data;
pub mod engine;
pub mod server;
pub mod sts;
pub mod ui;
