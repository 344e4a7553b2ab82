//! Bad input to the CLI: each case ends with one clear message, a nonzero exit code, and
//! nothing lost (no object half-written, no file touched, corrupt sessions kept aside).
//! Also: uploads survive a server that fails and cuts requests at random.

mod support;

use std::process::Command;

use support::cli::{BUCKET, Home, Server, open_uploads, read_object, run, text};
use support::data::data;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn object_count(server: &Server) -> usize {
    support::cli::runtime()
        .block_on(server.client().list_objects(BUCKET, None, None, None))
        .expect("ListObjects")
        .contents
        .len()
}

#[test]
fn missing_file_refuses_the_whole_command() {
    let server = Server::start(&[]);
    let home = Home::new();
    let present = home.file("present.txt", b"hello");
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&present)
        .arg(home.path().join("files/absent.txt"))
        .arg(format!("oss://{BUCKET}/")));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let message = stderr(&output);
    assert!(
        message.contains("absent.txt") && message.contains("no such file"),
        "{message}"
    );
    assert_eq!(
        object_count(&server),
        0,
        "nothing is sent when one source is bad"
    );
    assert_eq!(std::fs::read(&present).expect("still there"), b"hello");
}

#[test]
fn unreadable_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start(&[]);
    let home = Home::new();
    let secret = home.file("secret.txt", b"top secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).expect("chmod 000");
    let mut command = home.ossup(&server);
    if is_root() {
        // Root reads anything; run the CLI without the capabilities that allow it.
        let program = command.get_program().to_owned();
        let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
        let envs: Vec<_> = command
            .get_envs()
            .map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned)))
            .collect();
        let mut wrapped = Command::new("setpriv");
        wrapped
            .args([
                "--bounding-set=-dac_override,-dac_read_search",
                "--inh-caps=-dac_override,-dac_read_search",
            ])
            .arg(program)
            .args(args)
            .current_dir(home.path());
        for (key, value) in envs {
            match value {
                Some(value) => wrapped.env(key, value),
                None => wrapped.env_remove(key),
            };
        }
        command = wrapped;
    }
    let output = run(command
        .arg("upload")
        .arg(&secret)
        .arg(format!("oss://{BUCKET}/")));
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod back");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        stderr(&output).contains("permission denied"),
        "{}",
        text(&output)
    );
    assert_eq!(object_count(&server), 0);
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn invalid_keys_are_refused_before_sending() {
    let server = Server::start(&[]);
    let home = Home::new();
    let path = home.file("a.txt", b"a");
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&path)
        .arg(format!("oss://{BUCKET}//abs.txt")));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        stderr(&output).contains("must not start with '/'"),
        "{}",
        text(&output)
    );

    let long_prefix = "p".repeat(1100);
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&path)
        .arg(format!("oss://{BUCKET}/{long_prefix}/")));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        stderr(&output).contains("at most 1023 bytes"),
        "{}",
        text(&output)
    );

    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&path)
        .arg("s3://bucket/x"));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        stderr(&output).contains("oss://bucket/prefix/"),
        "{}",
        text(&output)
    );
    assert_eq!(object_count(&server), 0);
}

#[test]
fn wrong_secret_fails_with_the_oss_code() {
    let server = Server::start(&[]);
    let home = Home::new();
    let path = home.file("a.txt", &data(300 * 1024, 1));
    let output = run(home
        .ossup(&server)
        .env("OSS_ACCESS_KEY_SECRET", "not-the-secret")
        .arg("upload")
        .arg(&path)
        .arg(format!("oss://{BUCKET}/a.txt"))
        .args(["--part-size", "100KiB"]));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let shown = text(&output);
    assert!(shown.contains("SignatureDoesNotMatch"), "{shown}");
    assert!(shown.contains("request id"), "{shown}");
    assert_eq!(object_count(&server), 0);
}

#[test]
fn unknown_bucket_fails_with_the_oss_code() {
    let server = Server::start(&[]);
    let home = Home::new();
    let path = home.file("a.txt", b"abc");
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&path)
        .arg("oss://no-such-bucket/"));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("NoSuchBucket"), "{}", text(&output));
}

#[test]
fn corrupt_session_file_is_reported_and_kept() {
    let server = Server::start(&[]);
    let home = Home::new();
    std::fs::create_dir_all(home.sessions_dir()).expect("mkdir");
    let corrupt = home
        .sessions_dir()
        .join("0123456789abcdef0123456789abcdef.json");
    std::fs::write(&corrupt, b"{ this is not json").expect("write");

    let output = run(home.ossup(&server).arg("sessions"));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        stderr(&output).contains("could not be read"),
        "{}",
        text(&output)
    );

    // Reported once: the file was set aside, so the next command goes on without it.
    let output = run(home.ossup(&server).args(["resume", "--all"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        !text(&output).contains("could not be read"),
        "{}",
        text(&output)
    );
    // Nothing lost: the bytes are still on disk, under a `.corrupt` name.
    let kept: Vec<_> = std::fs::read_dir(home.sessions_dir())
        .expect("lists")
        .filter_map(Result::ok)
        .filter(|e| std::fs::read(e.path()).is_ok_and(|b| b == b"{ this is not json"))
        .collect();
    assert_eq!(kept.len(), 1, "{}", text(&output));
}

#[test]
fn bad_tuning_flags_and_config_are_refused() {
    let server = Server::start(&[]);
    let home = Home::new();
    let path = home.file("a.txt", b"a");
    let destination = format!("oss://{BUCKET}/");
    for (flag, value, expected) in [
        ("--part-size", "64KiB", "100KiB to 5GiB"),
        ("--part-size", "8 MeB", "unknown size unit"),
        ("--parallel", "0", "1 to 64"),
        ("--limit-rate", "10", "at least 1KiB"),
        ("--storage-class", "Cold", "Standard, IA"),
    ] {
        let output = run(home
            .ossup(&server)
            .arg("upload")
            .arg(&path)
            .arg(&destination)
            .args([flag, value]));
        assert_eq!(
            output.status.code(),
            Some(2),
            "{flag} {value}: {}",
            text(&output)
        );
        assert!(
            stderr(&output).contains(expected),
            "{flag} {value}: {}",
            text(&output)
        );
    }
    std::fs::create_dir_all(home.config_file().parent().expect("dir")).expect("mkdir");
    std::fs::write(home.config_file(), "[tuning]\nparallel_parts = 500\n").expect("write");
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&path)
        .arg(&destination));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(stderr(&output).contains("config.toml"), "{}", text(&output));
    assert_eq!(object_count(&server), 0);
}

#[test]
fn upload_survives_random_failures_and_cut_connections() {
    let server = Server::start(&[
        "--fault-fail-rate",
        "0.1",
        "--fault-cut-rate",
        "0.1",
        "--fault-cut-after-bytes",
        "30000",
        "--fault-seed",
        "7",
    ]);
    let home = Home::new();
    let faulty = data(100 * 1024 * 35 + 999, 5);
    let path = home.file("faulty.bin", &faulty);
    let small = home.file("small.txt", &data(5000, 6));
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&path)
        .arg(&small)
        .arg(format!("oss://{BUCKET}/faults/"))
        .args(["--part-size", "100KiB", "--parallel", "4"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let client = server.client();
    assert!(read_object(&client, "faults/faulty.bin") == faulty);
    assert!(read_object(&client, "faults/small.txt") == data(5000, 6));
    assert!(open_uploads(&client).is_empty());
}

#[test]
fn a_damaged_saved_upload_is_listed_with_its_reason_and_kept() {
    use ossup::engine::session_store::{FORMAT_VERSION, FileIdentity, Session, UploadOptions};

    let server = Server::start(&[]);
    let home = Home::new();
    let session = Session {
        format_version: FORMAT_VERSION,
        id: "0123456789abcdef0123456789abcdef".into(),
        local_path: home.file("big.bin", b"x"),
        file: FileIdentity {
            size: 300 << 20,
            mtime_unix_nanos: 0,
            fingerprint: 0,
        },
        endpoint: server.endpoint.clone(),
        bucket: "demo".into(),
        key: "big.bin".into(),
        upload_id: "UPLOAD".into(),
        part_size: 100 << 20,
        completed_parts: Vec::new(),
        options: UploadOptions::default(),
        created_unix_secs: 0,
        job: None,
    };
    home.sessions().save(&session).expect("saved");
    rusqlite::Connection::open(home.queue_dir().join("queue.sqlite3"))
        .expect("opens")
        .execute("UPDATE sessions SET part_size = 0", [])
        .expect("tampered");

    for _ in 0..2 {
        let output = run(home.ossup(&server).arg("sessions"));
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        assert!(
            stderr(&output).contains(&format!("the saved upload {} is damaged", session.id))
                && stderr(&output).contains("part size of 0 bytes"),
            "{}",
            text(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("No saved uploads"),
            "{}",
            text(&output)
        );
    }
}
