//! A second `ossup --add PATH` (the real binary, as a file manager runs it) hands its paths
//! to the window's socket and exits at once; the listening side is the window's own
//! listener, started in this process as the window starts it. The window uploads what it
//! is handed and comes to the front.

mod support;

use std::time::Duration;

use ossup::engine::event::TransferState;
use ossup::ui::single_instance::{Listener, hand_over, socket_path};
use support::cli::{Home, run, text};
use support::ui::{TestDirs, harness, setup, state_of};

#[test]
fn a_second_ossup_add_hands_its_paths_to_the_running_window_and_exits() {
    let home = Home::new();
    let file = home.file("photo.jpg", b"picture");
    let paths = ossup::config::AppPaths {
        config_file: home.config_file(),
        sessions_dir: home.sessions_dir(),
        queue_dir: home.path().join("queue"),
        server_dir: home.path().join("server"),
    };
    let socket = socket_path(Some(home.runtime_dir()), &paths);
    // A socket file left by a window that crashed is taken over.
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("stale socket"));
    let inbox = Listener::bind(&socket)
        .expect("the window's socket")
        .serve(|| {});

    // Relative to its own working directory, as a file manager starts it.
    let output = run(home
        .ossup_bare()
        .current_dir(file.parent().expect("folder"))
        .args(["--add", "photo.jpg"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("already open"), "{}", text(&output));
    let received = inbox
        .recv_timeout(Duration::from_secs(10))
        .expect("the paths arrive");
    assert_eq!(received, vec![file.canonicalize().expect("absolute")]);

    // Without paths (the desktop entry started with no files) it only asks the window to
    // come to the front.
    for args in [&[][..], &["--add"][..]] {
        let output = run(home.ossup_bare().args(args));
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        assert_eq!(
            inbox.recv_timeout(Duration::from_secs(10)),
            Some(Vec::new())
        );
    }
}

#[test]
fn the_window_uploads_what_it_is_handed_and_comes_to_the_front() {
    let dirs = TestDirs::new();
    let runtime_dir = dirs.root.path().join("run");
    std::fs::create_dir_all(&runtime_dir).expect("runtime folder");
    let socket = socket_path(Some(runtime_dir), &dirs.paths);
    let inbox = Listener::bind(&socket)
        .expect("the window's socket")
        .serve(|| {});
    let mut harness = harness(setup(&dirs, None));
    harness.state_mut().accept_hand_overs(inbox);
    harness.step();

    let file = dirs.file("handed.jpg", 5_000);
    assert!(hand_over(&socket, &[file]).expect("handed over"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut focused = false;
    loop {
        harness.step();
        focused |= harness.output().viewport_output.values().any(|viewport| {
            viewport
                .commands
                .iter()
                .any(|c| matches!(c, egui::ViewportCommand::Focus))
        });
        if state_of(harness.state(), "handed.jpg") == Some(TransferState::Done) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the handed file was not uploaded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(focused, "the window did not ask to come to the front");
}
