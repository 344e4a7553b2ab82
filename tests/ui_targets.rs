//! One queue across targets: uploads to every target the window has used stay in view and
//! keep running whatever the Target choice or a settings save does; the choice only says
//! where new drops go. The queue is shared with a CLI process on the same store too.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use ossup::config::AppPaths;
use ossup::engine::event::{PartState, TransferState};
use ossup::engine::store::JobState;
use ossup::server;
use ossup::ui::OssupApp;
use ossup::ui::command::UiCommand;
use support::server::TestServer;
use support::ui::*;

const GENEROUS: Duration = Duration::from_secs(60);
const KEY_ID: &str = "LABKEYID";
const KEY_SECRET: &str = "lab-secret-for-targets";

/// A second endpoint with its own bucket and key, each request slowed by `delay`.
fn lab_server(runtime: &tokio::runtime::Runtime, bucket: &str, delay: Duration) -> TestServer {
    let bucket = bucket.to_owned();
    runtime.block_on(TestServer::start_with(move |config| {
        config.buckets = vec![bucket];
        config.access_keys = vec![(KEY_ID.into(), KEY_SECRET.into())];
        config.faults.delay = delay;
    }))
}

fn profile_toml(name: &str, server: &TestServer, bucket: &str) -> String {
    format!(
        r#"
[profiles.{name}]
endpoint = "{}"
bucket = "{bucket}"
path_style = true
access_key_id = "{KEY_ID}"
access_key_secret = "{KEY_SECRET}"
"#,
        server.endpoint()
    )
}

fn wait_for_state(harness: &mut Harness<'_, OssupApp>, name: &str, state: TransferState) {
    wait_until(harness, GENEROUS, &format!("{name} {state:?}"), |app| {
        state_of(app, name) == Some(state.clone())
    });
}

fn wait_for_a_part(harness: &mut Harness<'_, OssupApp>, name: &str) {
    wait_until(harness, GENEROUS, &format!("a part of {name}"), |app| {
        app.transfers()
            .rows()
            .iter()
            .any(|r| r.file_name == name && r.snapshot.parts.contains(&PartState::Done))
    });
}

#[test]
fn saving_a_new_profile_keeps_every_row_in_view_and_running() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let lab = lab_server(&runtime, "photos", Duration::ZERO);
    let mut harness = harness(setup(&dirs, Some(Duration::from_millis(60))));

    drop_files(&mut harness, &[dirs.file("done.txt", 1000)]);
    wait_for_state(&mut harness, "done.txt", TransferState::Done);
    type_into(&mut harness, "Bucket", "no-such-bucket");
    drop_files(&mut harness, &[dirs.file("failed.txt", 1000)]);
    wait_for_state(&mut harness, "failed.txt", TransferState::Failed);
    type_into(&mut harness, "Bucket", server::DEFAULT_BUCKET);
    drop_files(&mut harness, &[dirs.file("movie.bin", 2 * 1024 * 1024)]);
    wait_for_a_part(&mut harness, "movie.bin");

    click(&mut harness, "Settings");
    type_profile(
        &mut harness,
        "lab",
        &lab.endpoint(),
        "photos",
        (KEY_ID, KEY_SECRET),
    );
    click(&mut harness, "Save settings");
    wait_until(&mut harness, GENEROUS, "the switch to lab", |app| {
        !app.is_connecting()
            && app
                .target()
                .is_some_and(|t| t.profile.as_deref() == Some("lab"))
    });
    harness.run_steps(3);
    let app = harness.state();
    assert_eq!(state_of(app, "done.txt"), Some(TransferState::Done));
    assert_eq!(
        state_of(app, "failed.txt"),
        Some(TransferState::Failed),
        "a failed upload without a session waits for Retry"
    );
    let movie = state_of(app, "movie.bin").expect("the running upload is still shown");
    assert!(
        !matches!(movie, TransferState::Paused),
        "saving a profile paused the running upload"
    );
    wait_for_state(&mut harness, "movie.bin", TransferState::Done);

    // New drops go to the new profile; the old rows keep their own target.
    drop_files(&mut harness, &[dirs.file("beach.jpg", 5000)]);
    wait_for_state(&mut harness, "beach.jpg", TransferState::Done);
    let rows = harness.state().transfers().rows();
    let target_of = |name: &str| {
        rows.iter()
            .find(|r| r.file_name == name)
            .map(|r| r.snapshot.target.clone())
            .unwrap_or_default()
    };
    assert_eq!(target_of("beach.jpg"), format!("lab@{}", lab.endpoint()));
    assert_ne!(target_of("movie.bin"), target_of("beach.jpg"));

    // The history kept what was sent before the save (done.txt, movie.bin) and after.
    click(&mut harness, "History");
    wait_until(&mut harness, GENEROUS, "the history listed", |app| {
        app.history().total() == 3
    });
    harness.run_steps(2);
    harness.get_by_label(&format!("oss://{}/done.txt", server::DEFAULT_BUCKET));
    drop(harness);
    runtime.block_on(lab.server.shutdown());
}

#[test]
fn editing_another_profile_keeps_the_chosen_target_and_its_upload() {
    let dirs = TestDirs::new();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let first = lab_server(&runtime, "first", Duration::from_millis(60));
    let second = lab_server(&runtime, "second", Duration::ZERO);
    dirs.write_config(&format!(
        "default_profile = \"one\"\n{SMALL_PARTS_CONFIG}{}{}",
        profile_toml("one", &first, "first"),
        profile_toml("two", &second, "second"),
    ));
    let mut harness = harness(setup(&dirs, None));
    assert_eq!(
        harness.state().target().and_then(|t| t.profile.clone()),
        Some("one".into())
    );
    drop_files(&mut harness, &[dirs.file("movie.bin", 2 * 1024 * 1024)]);
    wait_for_a_part(&mut harness, "movie.bin");

    click(&mut harness, "Settings");
    click(&mut harness, "Edit two");
    type_into(&mut harness, "Bucket", "second-renamed");
    type_into(&mut harness, "Part size", "200KiB");
    click(&mut harness, "Save settings");
    wait_until(&mut harness, GENEROUS, "the settings saved", |app| {
        app.config()
            .profiles
            .get("two")
            .is_some_and(|p| p.bucket.as_deref() == Some("second-renamed"))
    });
    harness.run_steps(10);
    assert_eq!(
        harness.state().target().and_then(|t| t.profile.clone()),
        Some("one".into()),
        "saving profile two switched the target"
    );
    let movie = state_of(harness.state(), "movie.bin").expect("still shown");
    assert!(!matches!(movie, TransferState::Paused), "{movie:?}");
    wait_for_state(&mut harness, "movie.bin", TransferState::Done);
    drop(harness);
    runtime.block_on(first.server.shutdown());
    runtime.block_on(second.server.shutdown());
}

fn folder(dirs: &TestDirs, name: &str, files: usize) -> PathBuf {
    for i in 0..files {
        dirs.file(&format!("{name}/f{i:02}.txt"), 300 + i);
    }
    dirs.root.path().join("files").join(name)
}

#[test]
fn jobs_of_two_targets_are_shown_together_and_both_finish() {
    let dirs = TestDirs::new();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let lab = lab_server(&runtime, "photos", Duration::from_millis(30));
    dirs.write_config(&format!(
        "{SMALL_PARTS_CONFIG}{}",
        profile_toml("lab", &lab, "photos")
    ));
    let mut harness = harness(setup(&dirs, Some(Duration::from_millis(30))));
    assert!(harness.state().target().expect("connected").is_embedded());
    drop_files(&mut harness, &[folder(&dirs, "local-album", 20)]);
    wait_until(&mut harness, GENEROUS, "the local job", |app| {
        app.transfers().jobs.len() == 1
    });

    harness
        .state_mut()
        .apply(UiCommand::SelectProfile(Some("lab".into())));
    wait_until(&mut harness, GENEROUS, "the switch to lab", |app| {
        !app.is_connecting()
            && app
                .target()
                .is_some_and(|t| t.profile.as_deref() == Some("lab"))
    });
    drop_files(&mut harness, &[folder(&dirs, "lab-album", 20)]);
    wait_until(&mut harness, GENEROUS, "both jobs", |app| {
        app.transfers().jobs.len() == 2
    });
    let targets: Vec<String> = harness
        .state()
        .transfers()
        .jobs
        .values()
        .map(|j| j.target.clone())
        .collect();
    assert_ne!(targets[0], targets[1], "{targets:?}");

    click(&mut harness, "Settings");
    type_into(&mut harness, "Part size", "200KiB");
    click(&mut harness, "Save settings");
    harness.run_steps(5);
    assert_eq!(harness.state().transfers().jobs.len(), 2);
    wait_until(&mut harness, GENEROUS, "both jobs finished", |app| {
        app.transfers()
            .jobs
            .values()
            .all(|j| j.is_finished() && j.counts.done == 20)
    });
    drop(harness);
    runtime.block_on(lab.server.shutdown());
}

/// The window and a CLI process on one queue store: the window shows the CLI's job as in
/// use by it; once the CLI is killed, the window takes the job over and ends it.
#[test]
fn a_job_a_cli_process_drives_is_shown_in_use_then_taken_over_by_the_window() {
    let mut dirs = TestDirs::new();
    // Where the `ossup` binary finds its config and data under XDG_CONFIG_HOME/XDG_DATA_HOME.
    let root = dirs.root.path().to_path_buf();
    let data = root.join("data").join("ossup");
    dirs.paths = AppPaths {
        config_file: root.join("config").join("ossup").join("config.toml"),
        sessions_dir: data.join("sessions"),
        queue_dir: data.join("queue"),
        server_dir: data.join("server"),
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let lab = lab_server(&runtime, "photos", Duration::from_millis(100));
    dirs.write_config(&format!(
        "default_profile = \"lab\"\n[tuning]\nsmall_files_at_once = 2\n{}",
        profile_toml("lab", &lab, "photos")
    ));
    let album = folder(&dirs, "shared", 40);

    let mut cli = std::process::Command::new(env!("CARGO_BIN_EXE_ossup"))
        .args(["upload", "--profile", "lab"])
        .arg(&album)
        .arg("oss://photos/")
        .env("HOME", &root)
        .env("XDG_CONFIG_HOME", root.join("config"))
        .env("XDG_DATA_HOME", root.join("data"))
        .env("XDG_RUNTIME_DIR", &root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ossup runs");
    let client = support::server::path_style_client(&lab.endpoint(), KEY_ID, KEY_SECRET);
    let deadline = std::time::Instant::now() + GENEROUS;
    while runtime
        .block_on(client.head_object("photos", "shared/f01.txt"))
        .is_err()
    {
        assert!(std::time::Instant::now() < deadline, "the CLI sent nothing");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The window loads the job from the store and shows who drives it.
    let mut harness = harness(setup(&dirs, None));
    wait_until(&mut harness, GENEROUS, "the job shown in use", |app| {
        app.transfers()
            .jobs
            .values()
            .any(|j| j.locked_by == Some(cli.id()))
    });
    harness.run_steps(2);
    harness.get_by_label("in use by another process");
    assert!(
        harness.state().transfers().rows().is_empty(),
        "the window sends nothing of it"
    );

    cli.kill().expect("killed");
    cli.wait().expect("reaped");
    wait_until(&mut harness, GENEROUS, "the job free to resume", |app| {
        app.transfers()
            .jobs
            .values()
            .any(|j| j.locked_by.is_none() && j.state == JobState::Paused)
    });
    harness.run_steps(2);
    harness.get_by_label("Resume").click();
    wait_until(
        &mut harness,
        GENEROUS,
        "the job taken over and finished",
        |app| {
            app.transfers()
                .jobs
                .values()
                .any(|j| j.is_finished() && j.counts.done == 40)
        },
    );
    for i in 0..40 {
        let key = format!("shared/f{i:02}.txt");
        let stored = runtime
            .block_on(client.get_object("photos", &key, None))
            .expect("every file was uploaded");
        assert_eq!(stored.len(), 300 + i, "{key}");
    }
    drop(harness);
    runtime.block_on(lab.server.shutdown());
}

/// What the built-in endpoint was left with (a paused upload) shows beside the default
/// profile's, and resumes, when the window starts on a profile.
#[test]
fn a_paused_upload_to_the_built_in_endpoint_shows_when_a_profile_is_the_default() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let lab = lab_server(&runtime, "photos", Duration::ZERO);
    let mut harness = harness(setup(&dirs, Some(Duration::from_millis(60))));
    drop_files(&mut harness, &[dirs.file("movie.bin", 2 * 1024 * 1024)]);
    wait_for_a_part(&mut harness, "movie.bin");
    click(&mut harness, "Pause");
    wait_for_state(&mut harness, "movie.bin", TransferState::Paused);
    drop(harness);

    dirs.write_config(&format!(
        "default_profile = \"lab\"\n{SMALL_PARTS_CONFIG}{}",
        profile_toml("lab", &lab, "photos")
    ));
    let mut harness = support::ui::harness(setup(&dirs, None));
    assert_eq!(
        harness
            .state()
            .target()
            .expect("connected")
            .profile
            .as_deref(),
        Some("lab")
    );
    wait_for_state(&mut harness, "movie.bin", TransferState::Paused);
    click(&mut harness, "Resume");
    wait_for_state(&mut harness, "movie.bin", TransferState::Done);
    assert_eq!(
        harness
            .state()
            .target()
            .expect("connected")
            .profile
            .as_deref(),
        Some("lab"),
        "new drops still go to the default profile"
    );
    drop(harness);
    runtime.block_on(lab.server.shutdown());
}

/// With a profile as the default and nothing left on the built-in endpoint, the endpoint
/// is not started at all.
#[test]
fn the_built_in_endpoint_is_not_started_when_nothing_of_it_is_left() {
    let dirs = TestDirs::new();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let lab = lab_server(&runtime, "photos", Duration::ZERO);
    dirs.write_config(&format!(
        "default_profile = \"lab\"\n{}",
        profile_toml("lab", &lab, "photos")
    ));
    let mut harness = harness(setup(&dirs, None));
    wait_until(
        &mut harness,
        GENEROUS,
        "connected, leftovers looked for",
        |app| {
            !app.is_connecting()
                && app.target().is_some()
                && !app.is_looking_for_embedded_leftovers()
        },
    );
    assert_eq!(harness.state().embedded_endpoint(), None);
    drop(harness);
    runtime.block_on(lab.server.shutdown());
}
