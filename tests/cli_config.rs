//! Where the CLI sends requests: flags over `OSS_*` variables over the profile file, and
//! the local endpoint when nothing is configured.

mod support;

use support::cli::{BUCKET, Home, KEY_ID, KEY_SECRET, Server, read_object, run, text};

fn write_config(home: &Home, text: &str) {
    let path = home.config_file();
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    std::fs::write(path, text).expect("write config");
}

/// A default profile for `server`, its key pair stored in the file.
fn write_profile_for(home: &Home, server: &Server) {
    write_config(
        home,
        &format!(
            "[profiles.default]\nendpoint = \"{}\"\naccess_key_id = \"{KEY_ID}\"\naccess_key_secret = \"{KEY_SECRET}\"\npath_style = true\n",
            server.endpoint
        ),
    );
}

#[test]
fn profile_alone_reaches_the_server() {
    let server = Server::start(&[]);
    let home = Home::new();
    write_profile_for(&home, &server);
    let path = home.file("a.txt", b"from the profile");
    let output = run(home
        .ossup_bare()
        .arg("upload")
        .arg(&path)
        .arg(format!("oss://{BUCKET}/a.txt")));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(read_object(&server.client(), "a.txt"), b"from the profile");
}

#[test]
fn env_and_flags_win_over_the_profile() {
    let server = Server::start(&[]);
    let home = Home::new();
    // The profile points at a port nobody listens on, with a wrong key.
    write_config(
        &home,
        "[profiles.work]\nendpoint = \"http://127.0.0.1:9\"\naccess_key_id = \"WRONG\"\naccess_key_secret = \"wrong\"\n",
    );
    let path = home.file("a.txt", b"env wins");
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&path)
        .arg(format!("oss://{BUCKET}/a.txt"))
        .args(["--profile", "work"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(read_object(&server.client(), "a.txt"), b"env wins");

    // A flag wins over the environment: an endpoint nobody listens on makes it fail.
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&path)
        .arg(format!("oss://{BUCKET}/b.txt"))
        .args(["--endpoint", "http://127.0.0.1:9"]));
    assert_ne!(output.status.code(), Some(0), "{}", text(&output));

    // V4 with the server's region works too.
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&path)
        .arg(format!("oss://{BUCKET}/v4.txt"))
        .args(["--region", "cn-hangzhou"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(read_object(&server.client(), "v4.txt"), b"env wins");
}

#[test]
fn alibaba_cloud_variables_supply_the_key_and_oss_ones_win() {
    let server = Server::start(&[]);
    let home = Home::new();
    let path = home.file("a.txt", b"alibaba names");
    let output = run(home
        .ossup_bare()
        .env("OSS_ENDPOINT", &server.endpoint)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", KEY_SECRET)
        .arg("upload")
        .arg(&path)
        .arg(format!("oss://{BUCKET}/a.txt")));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(read_object(&server.client(), "a.txt"), b"alibaba names");

    // With both families set the OSS_* pair is used as a whole: a wrong OSS pair fails
    // even though the ALIBABA_CLOUD_* pair is right.
    let output = run(home
        .ossup_bare()
        .env("OSS_ENDPOINT", &server.endpoint)
        .env("OSS_ACCESS_KEY_ID", "WRONG")
        .env("OSS_ACCESS_KEY_SECRET", "wrong")
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", KEY_SECRET)
        .arg("upload")
        .arg(&path)
        .arg(format!("oss://{BUCKET}/b.txt")));
    assert_ne!(output.status.code(), Some(0), "{}", text(&output));
    assert!(!text(&output).contains(KEY_SECRET), "{}", text(&output));
}

#[test]
fn unknown_profile_and_missing_secret_are_usage_errors() {
    let home = Home::new();
    let path = home.file("a.txt", b"x");
    let output = run(home
        .ossup_bare()
        .arg("upload")
        .arg(&path)
        .arg("oss://bkt/")
        .args(["--profile", "nope"]));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("no profile named \"nope\""),
        "{}",
        text(&output)
    );

    write_config(
        &home,
        "[profiles.default]\nendpoint = \"https://oss.example.com\"\naccess_key_id = \"ID\"\n",
    );
    let output = run(home.ossup_bare().arg("upload").arg(&path).arg("oss://bkt/"));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("OSS_ACCESS_KEY_SECRET"),
        "{}",
        text(&output)
    );
}

#[test]
fn nothing_configured_says_it_targets_the_local_endpoint() {
    let home = Home::new();
    let output = run(home.ossup_bare().args(["uploads", "ls", "oss://demo"]));
    let shown = text(&output);
    assert!(
        shown.contains("local endpoint http://127.0.0.1:9090"),
        "{shown}"
    );
    assert!(shown.contains("ossup serve"), "{shown}");
}

#[cfg(unix)]
#[test]
fn a_secret_in_a_file_others_can_read_is_warned_about_once() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start(&[]);
    let home = Home::new();
    write_profile_for(&home, &server);
    let config = home.config_file();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let path = home.file("a.txt", b"still uploads");
    let output = run(home
        .ossup_bare()
        .arg("upload")
        .arg(&path)
        .arg(format!("oss://{BUCKET}/a.txt")));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let fix = format!("chmod 600 {}", config.display());
    assert_eq!(stderr.matches(&fix).count(), 1, "{stderr}");
    assert!(stderr.contains("other users can read it"), "{stderr}");
    assert!(!stderr.contains(KEY_SECRET), "{stderr}");

    // Once private, nothing is said.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let output = run(home
        .ossup_bare()
        .arg("upload")
        .arg(&path)
        .arg(format!("oss://{BUCKET}/b.txt")));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("chmod"),
        "{}",
        text(&output)
    );
}
