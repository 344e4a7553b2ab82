//! The desktop window (egui/eframe).
//!
//! - [`app`]: the eframe app: drain engine events, draw, then apply the commands the
//!   drawing produced.
//! - [`connection`]: the target (profile or embedded local endpoint), its engine and
//!   client; built off the UI thread when switching.
//! - [`history`]: the history view's model: pages of finished uploads from the store.
//! - [`job_failures`]: the failed files of an unfolded folder job, a page at a time.
//! - [`jobs`]: background work (file dialogs, listings, saves) whose results come back as
//!   messages the frame loop drains.
//! - [`leftovers`]: whether the built-in endpoint left uploads or jobs unfinished.
//! - [`notifications`]: desktop notifications when an upload finishes or fails.
//! - [`overwrite`]: files added onto keys that already exist: the check, and the answer
//!   that becomes the Add's overwrite policy.
//! - [`profile_probe`]: Test connection and ListBuckets for the profile being edited.
//! - [`quit`]: the question asked when the window closes while uploads run.
//! - [`shortcuts`]: keyboard shortcuts, turned into the commands a click would give.
//! - [`selection`]: which rows of a list are selected (click, Ctrl+click, Shift+click).
//! - [`transfer_list`]: the transfers list's sort and filters, and its bulk actions.
//! - [`remote_page`]: one page of in-progress uploads, fetched and classified.
//! - [`single_instance`]: the socket a second `ossup --add` hands its paths over.
//! - [`state`]: view models updated from engine events (no I/O).
//! - [`totals`]: what the running uploads add up to (status bar, window title) and the
//!   recent speeds the throughput graph draws.
//! - [`views`]: transfers, history, in-progress uploads, settings.
//! - [`widgets`]: the part map, the drop overlay and the throughput graph.
//!
//! The UI thread never awaits and never touches the disk or the network while drawing:
//! it repaints when the engine wakes it (at most ~10 times a second) or on input.

pub mod app;
pub mod command;
pub mod connection;
pub mod format;
pub mod history;
pub mod job_failures;
pub mod jobs;
pub mod leftovers;
pub mod notifications;
pub mod overwrite;
pub mod profile_probe;
pub mod quit;
pub mod remote_page;
pub mod selection;
pub mod shortcuts;
pub mod single_instance;
pub mod state;
pub mod totals;
pub mod transfer_list;
pub mod views;
pub mod widgets;

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::config::{AppPaths, ConfigError, EnvVars};

pub use app::{AppSetup, OssupApp};

/// The window's icon (PNG), built into the binary.
pub const ICON_PNG: &[u8] = include_bytes!("../../assets/icon.png");

/// Environment variable that forces X11 (`1`) or native Wayland (`0`); without it X11 is
/// used whenever a Wayland session is detected, because winit cannot receive dropped files
/// on native Wayland.
pub const ENV_FORCE_X11: &str = "OSSUP_X11";

/// Files or folders to upload at start, separated like `PATH` (`:` on Unix); added to
/// [`RunOptions::add_paths`].
pub const ENV_ADD_PATHS: &str = "OSSUP_ADD";

/// Milliseconds the embedded local endpoint waits before each answer, when
/// [`RunOptions::embedded_delay`] is not set (demos and screenshots).
pub const ENV_EMBEDDED_DELAY_MS: &str = "OSSUP_EMBEDDED_DELAY_MS";

/// How the window starts.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Files or folders to upload right away (e.g. `ossup --add PATH`).
    pub add_paths: Vec<PathBuf>,
    /// Delay added by the embedded local endpoint to every request, to watch transfers
    /// move (demos, screenshots).
    pub embedded_delay: Option<Duration>,
    /// Where config, sessions and the embedded endpoint's data live; the user's
    /// directories when `None`.
    pub paths: Option<AppPaths>,
}

/// Why the window could not open.
#[derive(Debug, Error)]
pub enum UiError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not start: {0}")]
    Startup(String),
    #[error("the window could not be opened: {0}")]
    Window(String),
}

/// Opens the window and returns when it is closed.
pub fn run(options: RunOptions) -> Result<(), UiError> {
    let paths = match options.paths {
        Some(paths) => paths,
        None => AppPaths::for_user()?,
    };
    let mut add_paths = options.add_paths;
    if let Some(list) = std::env::var_os(ENV_ADD_PATHS) {
        add_paths.extend(std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()));
    }
    let embedded_delay = match options.embedded_delay {
        Some(delay) => Some(delay),
        None => match std::env::var(ENV_EMBEDDED_DELAY_MS) {
            Ok(text) => Some(Duration::from_millis(text.trim().parse().map_err(
                |_| {
                    UiError::Startup(format!(
                        "{ENV_EMBEDDED_DELAY_MS}={text:?} is not a whole number of milliseconds"
                    ))
                },
            )?)),
            Err(_) => None,
        },
    };
    // A window runs already: it takes the paths and comes to the front.
    let socket = single_instance::socket_path_for_user(&paths);
    match single_instance::hand_over(&socket, &add_paths) {
        Ok(true) => {
            println!(
                "ossup: handed {} path(s) to the window that is already open",
                add_paths.len()
            );
            return Ok(());
        }
        Ok(false) => {}
        Err(error) => tracing::warn!("could not reach the running window: {error}"),
    }
    let listener = single_instance::Listener::bind(&socket)
        .map_err(|error| tracing::warn!("a second `ossup --add` will open its own window: {error}"))
        .ok();
    let setup = AppSetup {
        paths,
        env: EnvVars::from_process(),
        add_paths,
        embedded_delay,
    };
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("ossup — uploads to Alibaba Cloud OSS")
        .with_app_id("ossup")
        .with_inner_size([1100.0, 720.0])
        .with_min_inner_size([720.0, 480.0])
        .with_drag_and_drop(true);
    match eframe::icon_data::from_png_bytes(ICON_PNG) {
        Ok(icon) => viewport = viewport.with_icon(icon),
        Err(error) => tracing::warn!("the window icon could not be decoded: {error}"),
    }
    let mut native_options = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    if use_x11() {
        native_options.event_loop_builder = Some(Box::new(|builder| {
            use winit::platform::x11::EventLoopBuilderExtX11;
            builder.with_x11();
        }));
    }
    eframe::run_native(
        "ossup",
        native_options,
        Box::new(move |cc| {
            let mut app = OssupApp::new(cc.egui_ctx.clone(), setup)?;
            if let Some(listener) = listener {
                let ctx = cc.egui_ctx.clone();
                app.accept_hand_overs(listener.serve(move || ctx.request_repaint()));
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|error| UiError::Window(error.to_string()))
}

/// X11 when asked, or when a Wayland session is detected and not refused.
fn use_x11() -> bool {
    match std::env::var(ENV_FORCE_X11).ok().as_deref() {
        Some("1") | Some("true") | Some("yes") => true,
        Some("0") | Some("false") | Some("no") => false,
        _ => {
            std::env::var_os("WAYLAND_DISPLAY").is_some()
                || std::env::var("XDG_SESSION_TYPE").is_ok_and(|kind| kind == "wayland")
        }
    }
}
