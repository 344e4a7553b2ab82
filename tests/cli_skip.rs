//! `ossup upload --skip-existing / --skip-unchanged [--checksum] / --include / --exclude`
//! end to end against a real `ossup serve` process.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime};

use support::cli::{BUCKET, Home, Server, read_object, run, runtime, text};
use support::data::{rewrite_keeping_mtime, set_mtime};

/// `files/box/` with these files, each an hour old.
fn folder(home: &Home, files: &[(&str, &[u8])]) -> PathBuf {
    for (name, bytes) in files {
        let path = home.file(&format!("box/{name}"), bytes);
        set_mtime(&path, SystemTime::now() - Duration::from_secs(3600));
    }
    home.path().join("files").join("box")
}

fn upload(home: &Home, server: &Server, folder: &Path, flags: &[&str]) -> String {
    let output: Output = run(home
        .ossup(server)
        .arg("upload")
        .arg(folder)
        .arg(format!("oss://{BUCKET}/up/"))
        .args(flags));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn exists(server: &Server, key: &str) -> bool {
    runtime()
        .block_on(server.client().head_object(BUCKET, key))
        .is_ok()
}

#[test]
fn skip_existing_sends_only_missing_keys() {
    let server = Server::start(&[]);
    let home = Home::new();
    let root = folder(&home, &[("a.txt", b"old a")]);
    upload(&home, &server, &root, &[]);
    std::fs::write(root.join("a.txt"), b"new a, longer").unwrap();
    std::fs::write(root.join("b.txt"), b"b").unwrap();
    let out = upload(&home, &server, &root, &["--skip-existing"]);
    assert!(out.contains("1 of 2 uploaded"), "{out}");
    assert!(out.contains("1 skipped"), "{out}");
    assert_eq!(read_object(&server.client(), "up/box/a.txt"), b"old a");
    assert_eq!(read_object(&server.client(), "up/box/b.txt"), b"b");
}

#[test]
fn skip_unchanged_sends_nothing_again_until_a_file_is_touched() {
    let server = Server::start(&[]);
    let home = Home::new();
    let root = folder(&home, &[("a.txt", b"aaa"), ("b.txt", b"bbb")]);
    let first = upload(&home, &server, &root, &[]);
    assert!(first.contains("2 of 2 uploaded"), "{first}");

    let again = upload(&home, &server, &root, &["--skip-unchanged"]);
    assert!(again.contains("0 of 2 uploaded"), "{again}");
    assert!(again.contains("2 skipped"), "{again}");

    set_mtime(
        &root.join("b.txt"),
        SystemTime::now() + Duration::from_secs(3600),
    );
    let touched = upload(&home, &server, &root, &["--skip-unchanged"]);
    assert!(touched.contains("1 of 2 uploaded"), "{touched}");
    assert!(touched.contains("1 skipped"), "{touched}");
}

#[test]
fn checksum_resends_a_same_size_same_time_file_whose_bytes_changed() {
    let server = Server::start(&[]);
    let home = Home::new();
    let root = folder(&home, &[("a.txt", b"first")]);
    upload(&home, &server, &root, &[]);
    rewrite_keeping_mtime(&root.join("a.txt"), b"other");

    let by_time = upload(&home, &server, &root, &["--skip-unchanged"]);
    assert!(by_time.contains("1 skipped"), "{by_time}");
    assert_eq!(read_object(&server.client(), "up/box/a.txt"), b"first");

    let by_crc = upload(&home, &server, &root, &["--skip-unchanged", "--checksum"]);
    assert!(by_crc.contains("1 of 1 uploaded"), "{by_crc}");
    assert_eq!(read_object(&server.client(), "up/box/a.txt"), b"other");
}

#[test]
fn checksum_needs_skip_unchanged() {
    let server = Server::start(&[]);
    let home = Home::new();
    let root = folder(&home, &[("a.txt", b"a")]);
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&root)
        .arg(format!("oss://{BUCKET}/up/"))
        .arg("--checksum"));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
}

#[test]
fn filters_apply_in_the_order_given_and_the_last_match_wins() {
    let server = Server::start(&[]);
    let home = Home::new();
    let root = folder(
        &home,
        &[
            ("a.tmp", b"a"),
            ("keep.tmp", b"k"),
            ("sub/c.tmp", b"c"),
            ("b.txt", b"b"),
        ],
    );
    // An exclude after the include wins over it.
    let out = upload(
        &home,
        &server,
        &root,
        &["--include", "keep.tmp", "--exclude", "*.tmp"],
    );
    assert!(out.contains("1 of 1 uploaded"), "{out}");
    assert!(out.contains("3 excluded by filters"), "{out}");
    assert!(!exists(&server, "up/box/keep.tmp"));

    // An include after the exclude brings keep.tmp back.
    let out = upload(
        &home,
        &server,
        &root,
        &["--exclude", "*.tmp", "--include", "keep.tmp"],
    );
    assert!(out.contains("2 of 2 uploaded"), "{out}");
    assert!(out.contains("2 excluded by filters"), "{out}");
    assert_eq!(read_object(&server.client(), "up/box/keep.tmp"), b"k");
    assert!(!exists(&server, "up/box/a.tmp"));
    assert!(!exists(&server, "up/box/sub/c.tmp"));
}
