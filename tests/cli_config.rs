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

const ALIYUN_CONFIG: &str = r#"{
    "current": "work",
    "profiles": [
        {"name": "work", "mode": "AK", "access_key_id": "LTAIWORK", "access_key_secret": "work-secret-value",
         "sts_token": "", "region_id": "cn-hangzhou", "output_format": "json", "language": "en"},
        {"name": "temp", "mode": "StsToken", "access_key_id": "STS.TEMP", "access_key_secret": "temp-secret-value",
         "sts_token": "temp-token-value", "region_id": "cn-shanghai"},
        {"name": "role", "mode": "RamRoleArn", "access_key_id": "LTAIROLE", "access_key_secret": "role-secret-value",
         "ram_role_arn": "acs:ram::123:role/uploader", "ram_session_name": "s", "region_id": "cn-hangzhou"}
    ]
}"#;

fn profiles_import(home: &Home, args: &[&str]) -> std::process::Output {
    run(home.ossup_bare().args(["profiles", "import"]).args(args))
}

#[cfg(unix)]
#[test]
fn profiles_import_takes_aliyun_key_pairs_and_explains_the_rest() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let aliyun = home.file("aliyun.json", ALIYUN_CONFIG.as_bytes());
    let output = profiles_import(&home, &["--aliyun-config", aliyun.to_str().expect("utf-8")]);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    for secret in [
        "work-secret-value",
        "temp-secret-value",
        "temp-token-value",
        "role-secret-value",
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains("\"aliyun-work\""), "{shown}");
    assert!(shown.contains("\"aliyun-temp\""), "{shown}");
    assert!(
        shown.contains("not imported: aliyun profile \"role\" (RamRoleArn)")
            && shown.contains("which ossup does not do yet"),
        "{shown}"
    );

    let config = home.config_file();
    let mode = std::fs::metadata(&config)
        .expect("written")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let written = std::fs::read_to_string(&config).expect("reads");
    let file: toml::Table = toml::from_str(&written).expect("toml");
    let profiles = file["profiles"].as_table().expect("profiles");
    let work = profiles["aliyun-work"].as_table().expect("work");
    assert_eq!(
        work["endpoint"].as_str(),
        Some("https://oss-cn-hangzhou.aliyuncs.com")
    );
    assert_eq!(work["region"].as_str(), Some("cn-hangzhou"));
    assert_eq!(
        work["access_key_secret"].as_str(),
        Some("work-secret-value")
    );
    let temp = profiles["aliyun-temp"].as_table().expect("temp");
    assert_eq!(temp["security_token"].as_str(), Some("temp-token-value"));
    assert!(!profiles.contains_key("aliyun-role"), "{written}");
}

#[test]
fn profiles_import_takes_ossutil_credentials() {
    let home = Home::new();
    let ossutil = home.file(
        "ossutilconfig",
        b"[Credentials]\nlanguage=EN\nendpoint=oss-cn-beijing.aliyuncs.com\naccessKeyID=LTAIUTIL\naccessKeySecret=util-secret-value\n",
    );
    let output = profiles_import(
        &home,
        &["--ossutil-config", ossutil.to_str().expect("utf-8")],
    );
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(!shown.contains("util-secret-value"), "{shown}");
    assert!(shown.contains("\"ossutil\""), "{shown}");
    let written = std::fs::read_to_string(home.config_file()).expect("reads");
    assert!(
        written.contains("https://oss-cn-beijing.aliyuncs.com") && written.contains("LTAIUTIL"),
        "{written}"
    );
}

#[test]
fn profiles_import_refuses_a_malformed_file_with_its_path() {
    let home = Home::new();
    let bad = home.file("config.json", b"{\"profiles\": [ {\"name\": ");
    let output = profiles_import(&home, &["--aliyun-config", bad.to_str().expect("utf-8")]);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(2), "{shown}");
    assert!(shown.contains(&bad.display().to_string()), "{shown}");
    assert!(!home.config_file().exists());

    // Nothing there at all: a sentence and success.
    let output = profiles_import(&home, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("Nothing to import"),
        "{}",
        text(&output)
    );
}

#[test]
fn profiles_import_keeps_an_existing_profile_unless_told() {
    let home = Home::new();
    write_config(
        &home,
        "[profiles.aliyun-work]\nendpoint = \"https://mine.example.com\"\naccess_key_id = \"MINE\"\naccess_key_secret = \"mine\"\n",
    );
    let aliyun = home.file("aliyun.json", ALIYUN_CONFIG.as_bytes());
    let flag = ["--aliyun-config", aliyun.to_str().expect("utf-8")];
    let output = profiles_import(&home, &flag);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("kept the existing profile \"aliyun-work\""),
        "{shown}"
    );
    let written = std::fs::read_to_string(home.config_file()).expect("reads");
    assert!(written.contains("https://mine.example.com"), "{written}");
    assert!(written.contains("aliyun-temp"), "{written}");

    let output = profiles_import(&home, &[flag[0], flag[1], "--overwrite"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let written = std::fs::read_to_string(home.config_file()).expect("reads");
    assert!(!written.contains("https://mine.example.com"), "{written}");
    assert!(written.contains("LTAIWORK"), "{written}");
}
