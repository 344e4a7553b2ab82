//! Crash and interrupt safety of `ossup upload`: kill -9 at several points, then
//! `ossup resume --all`; Ctrl-C pauses and says how to continue. The server delays every
//! answer so the kills land mid-upload.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use support::cli::{BUCKET, Home, Server, open_uploads, read_object, run, spawn, text, wait_until};
use support::data::data;

const PART: usize = 100 * 1024;
const KEY: &str = "big/video.bin";

/// Waits until the session file records at least `parts` finished parts, then returns
/// its upload id. The engine saves sessions about once a second, so the uploads here are
/// sized (one part at a time, delayed answers) to take several seconds.
fn wait_for_parts(home: &Home, parts: usize) -> String {
    let mut upload_id = String::new();
    let reached = wait_until(Duration::from_secs(60), || {
        match home.session_parts().first() {
            Some((id, done)) if *done >= parts => {
                upload_id = id.clone();
                true
            }
            _ => false,
        }
    });
    assert!(reached, "the session never showed {parts} finished parts");
    upload_id
}

/// Uploads `path` to [`KEY`] one part at a time and kills the run (-9) once the session
/// holds `parts` finished parts; returns the upload id.
fn upload_killed_after_parts(home: &Home, server: &Server, path: &Path, parts: usize) -> String {
    let mut child = spawn(
        home.ossup(server)
            .arg("upload")
            .arg(path)
            .arg(format!("oss://{BUCKET}/{KEY}"))
            .args(["--part-size", "100KiB", "--parallel", "1"]),
    );
    let upload_id = wait_for_parts(home, parts);
    child.kill().expect("kill -9");
    let _ = child.wait();
    upload_id
}

#[test]
fn kill_nine_at_several_points_then_resume_uses_one_upload_id() {
    let server = Server::start(&["--fault-delay-ms", "100"]);
    let home = Home::new();
    let data = data(PART * 30 + 4321, 42);
    let path = home.file("video.bin", &data);
    let client = server.client();
    let mut seen_ids = BTreeSet::new();
    let observe = |seen: &mut BTreeSet<String>| {
        for (key, id) in open_uploads(&client) {
            assert_eq!(key, KEY);
            seen.insert(id);
        }
    };

    // First run: killed after a few parts.
    let first_id = upload_killed_after_parts(&home, &server, &path, 3);
    observe(&mut seen_ids);

    // Resumed, and killed again further on.
    let mut child = spawn(
        home.ossup(&server)
            .args(["resume", "--all", "--parallel", "1"]),
    );
    let second_id = wait_for_parts(&home, 14);
    child.kill().expect("kill -9");
    let _ = child.wait();
    observe(&mut seen_ids);
    assert_eq!(
        first_id, second_id,
        "the resumed run must keep the upload id"
    );

    // Killed right after resuming, before it can do much.
    let mut child = spawn(home.ossup(&server).args(["resume", "--all"]));
    std::thread::sleep(Duration::from_millis(150));
    child.kill().expect("kill -9");
    let _ = child.wait();
    observe(&mut seen_ids);

    // Finally to the end.
    let output = run(home.ossup(&server).args(["resume", "--all"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        read_object(&client, KEY) == data,
        "the object differs from the file"
    );
    assert!(open_uploads(&client).is_empty(), "an upload was left open");
    assert!(
        home.session_parts().is_empty(),
        "the session was not removed"
    );
    assert_eq!(
        seen_ids.into_iter().collect::<Vec<_>>(),
        vec![first_id],
        "exactly one upload id"
    );
}

#[test]
fn ctrl_c_pauses_and_says_how_to_resume() {
    let server = Server::start(&["--fault-delay-ms", "150"]);
    let home = Home::new();
    let data = data(PART * 20, 7);
    let path = home.file("video.bin", &data);
    let child = spawn(
        home.ossup(&server)
            .arg("upload")
            .arg(&path)
            .arg(format!("oss://{BUCKET}/{KEY}"))
            .args(["--part-size", "100KiB", "--parallel", "1"]),
    );
    wait_for_parts(&home, 2);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT runs");
    assert!(status.success());
    let output = child.wait_with_output().expect("ossup ends");
    assert_eq!(output.status.code(), Some(130), "{}", text(&output));
    let shown = text(&output);
    assert!(shown.contains("ossup resume --all"), "{shown}");
    let sessions = home.session_parts();
    assert_eq!(sessions.len(), 1, "the session is kept: {sessions:?}");

    let output = run(home.ossup(&server).args(["resume", "--all"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let client = server.client();
    assert!(read_object(&client, KEY) == data);
    assert!(open_uploads(&client).is_empty());
}

#[test]
fn sigterm_and_sighup_pause_like_ctrl_c_keeping_every_finished_part() {
    let server = Server::start(&["--fault-delay-ms", "150"]);
    for signal in ["-TERM", "-HUP"] {
        let home = Home::new();
        let path = home.file("video.bin", &data(PART * 20, 9));
        let child = spawn(
            home.ossup(&server)
                .arg("upload")
                .arg(&path)
                .arg(format!("oss://{BUCKET}/{KEY}"))
                .args(["--part-size", "100KiB", "--parallel", "2"]),
        );
        let upload_id = wait_for_parts(&home, 2);
        let status = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let output = child.wait_with_output().expect("ossup ends");
        assert_eq!(
            output.status.code(),
            Some(130),
            "{signal}: {}",
            text(&output)
        );
        // Paused, not cut off: the session holds every part the server has, but for the
        // two that were in flight (the server may have taken one whose answer never came).
        let on_server = support::cli::runtime()
            .block_on(server.client().list_parts(BUCKET, KEY, &upload_id, 0, None))
            .expect("ListParts")
            .parts
            .len();
        let saved = home.session_parts()[0].1;
        assert!(
            saved + 2 >= on_server,
            "{signal}: {saved} saved, {on_server} on the server"
        );
    }
}

#[test]
fn sessions_lists_what_resume_would_continue() {
    let server = Server::start(&["--fault-delay-ms", "150"]);
    let home = Home::new();
    let path = home.file("video.bin", &data(PART * 25, 3));
    let upload_id = upload_killed_after_parts(&home, &server, &path, 1);
    let output = run(home.ossup(&server).arg("sessions"));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("oss://{BUCKET}/{KEY}")),
        "{stdout}"
    );
    assert!(stdout.contains("1 saved upload"), "{stdout}");
    let line = stdout
        .lines()
        .find(|line| line.contains(&format!("oss://{BUCKET}/{KEY}")))
        .unwrap();
    assert_eq!(
        line.split_whitespace().nth(1),
        Some("1"),
        "the saved upload names its job: {stdout}"
    );

    // `uploads ls` marks it as ours and resumable.
    let output = run(home
        .ossup(&server)
        .args(["uploads", "ls", &format!("oss://{BUCKET}")]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&upload_id) && stdout.contains("resumable"),
        "{stdout}"
    );

    // Aborting it needs --yes, then forgets the session too.
    let object = format!("oss://{BUCKET}/{KEY}");
    let output =
        run(home
            .ossup(&server)
            .args(["uploads", "abort", &object, "--upload-id", &upload_id]));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("--yes"), "{}", text(&output));
    assert_eq!(open_uploads(&server.client()).len(), 1);
    let output = run(home.ossup(&server).args([
        "uploads",
        "abort",
        &object,
        "--upload-id",
        &upload_id,
        "--yes",
    ]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(open_uploads(&server.client()).is_empty());
    assert!(home.session_parts().is_empty());
}

#[test]
fn a_changed_file_stops_resume_until_restart() {
    let server = Server::start(&["--fault-delay-ms", "120"]);
    let home = Home::new();
    let path = home.file("video.bin", &data(PART * 25, 11));
    let old_upload_id = upload_killed_after_parts(&home, &server, &path, 2);

    let changed = data(PART * 13 + 3, 12);
    std::fs::write(&path, &changed).expect("rewrite");
    let output = run(home.ossup(&server).args(["resume", "--all"]));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let shown = text(&output);
    assert!(
        shown.contains("changed since the upload started"),
        "{shown}"
    );
    let hint = shown
        .split("run `ossup resume ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no restart hint: {shown}"))
        .to_owned();

    let output = run(home.ossup(&server).args(["resume", &hint, "--restart"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let client = server.client();
    assert!(
        read_object(&client, KEY) == changed,
        "the new version was uploaded"
    );
    let open = open_uploads(&client);
    assert!(
        open.is_empty(),
        "the old upload {old_upload_id} was aborted: {open:?}"
    );
    assert!(home.session_parts().is_empty());
}

#[test]
fn an_endpoint_that_dies_mid_upload_is_given_up_on_and_resumed_later() {
    let mut server = Server::start(&["--fault-delay-ms", "100"]);
    let home = Home::new();
    let data = data(PART * 30 + 99, 11);
    let path = home.file("video.bin", &data);
    let mut child = spawn(
        home.ossup(&server)
            .arg("upload")
            .arg(&path)
            .arg(format!("oss://{BUCKET}/{KEY}"))
            .args(["--part-size", "100KiB", "--parallel", "1"])
            .args(["--give-up-after", "300ms"]),
    );
    let upload_id = wait_for_parts(&home, 2);
    server.stop();
    let exited = wait_until(Duration::from_secs(20), || {
        child.try_wait().expect("try_wait").is_some()
    });
    if !exited {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("ossup exits");
    assert!(exited, "still waiting for the endpoint: {}", text(&output));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let shown = text(&output);
    assert!(shown.contains("gave up after"), "{shown}");
    assert!(
        shown.contains("connection refused by 127.0.0.1:"),
        "{shown}"
    );
    assert!(shown.contains("ossup resume"), "{shown}");
    let kept = home.session_parts();
    assert_eq!(kept.len(), 1, "the session is kept");
    assert_eq!(kept[0].0, upload_id);

    server.restart();
    let output = run(home.ossup(&server).args(["resume", "--all"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let client = server.client();
    assert!(read_object(&client, KEY) == data, "the object differs");
    assert!(open_uploads(&client).is_empty(), "an upload was left open");
}
