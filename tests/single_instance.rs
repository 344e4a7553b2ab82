//! A second `ossup --add PATH` (the real binary, as a file manager runs it) hands its paths
//! to the window's socket and exits at once; the listening side is the window's own
//! listener, started in this process as the window starts it.

mod support;

use std::time::Duration;

use ossup::ui::single_instance::{Listener, socket_path};
use support::cli::{Home, run, text};

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
