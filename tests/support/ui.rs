//! The window tests' pieces: a private set of directories, a real app (engine +
//! embedded endpoint on 127.0.0.1) inside an egui_kittest harness, dropping files, and
//! waiting for a condition with a deadline.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use ossup::config::{AppPaths, EnvVars};
use ossup::protocol::OssClient;
use ossup::protocol::client::ListUploadsParams;
use ossup::protocol::xml::UploadSummary;
use ossup::server;
use ossup::ui::{AppSetup, OssupApp};

use super::data::{data, write_file};
use super::server::{KEY_ID, KEY_SECRET, path_style_client};

/// Config, sessions and the embedded endpoint's data in one temporary folder.
pub struct TestDirs {
    pub root: tempfile::TempDir,
    pub paths: AppPaths,
}

impl TestDirs {
    pub fn new() -> Self {
        let root = tempfile::tempdir().expect("temporary folder");
        let paths = AppPaths {
            config_file: root.path().join("config").join("config.toml"),
            sessions_dir: root.path().join("sessions"),
            queue_dir: root.path().join("queue"),
            server_dir: root.path().join("server"),
        };
        Self { root, paths }
    }

    /// Writes a config file with small parts so a small file has many.
    pub fn write_config(&self, text: &str) {
        let dir = self.paths.config_file.parent().expect("config folder");
        std::fs::create_dir_all(dir).expect("config folder created");
        std::fs::write(&self.paths.config_file, text).expect("config written");
    }

    /// A file of `len` bytes of test data.
    pub fn file(&self, name: &str, len: usize) -> PathBuf {
        write_file(&self.root.path().join("files"), name, &data(len, 0))
    }
}

/// Small parts (100 KiB, the OSS minimum) and two at a time.
pub const SMALL_PARTS_CONFIG: &str = r#"
[tuning]
part_size = "100KiB"
parallel_parts = 2
concurrent_transfers = 2
"#;

pub fn setup(dirs: &TestDirs, delay: Option<Duration>) -> AppSetup {
    AppSetup {
        paths: dirs.paths.clone(),
        env: EnvVars::default(),
        add_paths: Vec::new(),
        embedded_delay: delay,
    }
}

/// The app in a window tall enough to show the whole settings view without scrolling.
pub fn harness(setup: AppSetup) -> Harness<'static, OssupApp> {
    harness_sized(setup, egui::vec2(1100.0, 1000.0))
}

/// The app in a window of `size` points.
pub fn harness_sized(setup: AppSetup, size: egui::Vec2) -> Harness<'static, OssupApp> {
    Harness::builder()
        .with_size(size)
        .with_max_steps(4)
        .build_eframe(move |cc| OssupApp::new(cc.egui_ctx.clone(), setup).expect("the app starts"))
}

/// Steps the app until `condition` holds, failing with `what` after `timeout`.
pub fn wait_until(
    harness: &mut Harness<'_, OssupApp>,
    timeout: Duration,
    what: &str,
    mut condition: impl FnMut(&OssupApp) -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        harness.step();
        if condition(harness.state()) {
            return;
        }
        if Instant::now() > deadline {
            let rows: Vec<String> = harness
                .state()
                .transfers()
                .rows()
                .iter()
                .map(|r| {
                    format!(
                        "{} {:?} {:?}",
                        r.file_name, r.snapshot.state, r.snapshot.error
                    )
                })
                .collect();
            panic!(
                "timed out waiting for {what}; status {:?}; rows {rows:?}",
                harness.state().status()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The endpoint the app is connected to (its embedded server unless configured otherwise).
pub fn connected_endpoint(harness: &Harness<'_, OssupApp>) -> String {
    harness
        .state()
        .target()
        .expect("connected")
        .endpoint
        .clone()
}

/// A dropped file as the windowing backend reports it.
#[derive(Debug)]
struct DroppedPath(PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// Drops `paths` on the window, as a drag and drop from a file manager does.
pub fn drop_files(harness: &mut Harness<'_, OssupApp>, paths: &[PathBuf]) {
    harness.input_mut().dropped_files = paths
        .iter()
        .map(|p| Arc::new(DroppedPath(p.clone())) as egui::DroppedFileHandle)
        .collect();
    harness.step();
}

/// The state of the row of the file called `name`, if it is listed.
pub fn state_of(app: &OssupApp, name: &str) -> Option<ossup::engine::event::TransferState> {
    app.transfers()
        .rows()
        .iter()
        .find(|row| row.file_name == name)
        .map(|row| row.snapshot.state.clone())
}

/// Clicks the widget labelled `label` and lets the app apply what it asked for.
pub fn click(harness: &mut Harness<'_, OssupApp>, label: &str) {
    harness.get_by_label(label).click();
    harness.step();
    harness.step();
}

/// Replaces the text of the input labelled `label`.
pub fn type_into(harness: &mut Harness<'_, OssupApp>, label: &str, text: &str) {
    harness.get_by_label(label).click();
    harness.step();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.step();
    harness.key_press(egui::Key::Backspace);
    harness.step();
    if !text.is_empty() {
        harness.get_by_label(label).type_text(text);
        harness.step();
    }
    // What was typed may add or remove a line under the field (its check): one more
    // frame so the next click finds widgets where they are drawn.
    harness.step();
}

/// Types a new profile into Settings (which must be open): name, endpoint, bucket and
/// an entered key pair; nothing is saved.
pub fn type_profile(
    harness: &mut Harness<'_, OssupApp>,
    name: &str,
    endpoint: &str,
    bucket: &str,
    key: (&str, &str),
) {
    type_into(harness, "Profile name", name);
    type_into(harness, "Endpoint", endpoint);
    type_into(harness, "Bucket", bucket);
    click(harness, "Entered here");
    type_key(harness, key);
}

/// Replaces the entered key pair of the profile in Settings.
pub fn type_key(harness: &mut Harness<'_, OssupApp>, (id, secret): (&str, &str)) {
    type_into(harness, "Access key id", id);
    type_into(harness, "Access key secret", secret);
}

/// A second client on the app's embedded endpoint, as another program would use it.
pub fn other_client(endpoint: &str) -> OssClient {
    path_style_client(endpoint, KEY_ID, KEY_SECRET)
}

/// The multipart uploads in progress in the embedded endpoint's bucket (first page).
pub fn open_uploads(client: &OssClient) -> Vec<UploadSummary> {
    block_on(client.list_multipart_uploads(server::DEFAULT_BUCKET, &ListUploadsParams::default()))
        .expect("listing")
        .uploads
}

/// Runs async client calls from a test thread.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}
