//! Folder jobs through the real binary: a CLI killed with SIGKILL in the middle of a job
//! continues it with `ossup resume --all`, sending none of the files the store recorded
//! as done; `ossup jobs` lists the job with its counts.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ossup::engine::store::FileState;
use support::cli::{BUCKET, Home, KEY_ID, KEY_SECRET, Server, read_object, run, spawn, text};
use support::data::data;

const FILES: usize = 300;

/// The keys a `--verbose` run printed as uploaded.
fn uploaded_keys(output: &str) -> BTreeSet<String> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("uploaded oss://"))
        .filter_map(|rest| rest.split_once(' ').map(|(object, _)| object.to_owned()))
        .filter_map(|object| {
            object
                .strip_prefix(&format!("{BUCKET}/"))
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn a_killed_job_continues_without_sending_what_was_recorded_done() {
    // Slow answers, so the kill lands with part of the folder sent.
    let server = Server::start(&["--fault-delay-ms", "100", "--fault-scope", "put-object"]);
    let home = Home::new();
    for index in 0..FILES {
        home.file(&format!("box/f{index:03}.txt"), &data(300, index as u64));
    }
    let folder = home.path().join("files").join("box");
    let destination = format!("oss://{BUCKET}/up/");

    let mut first = spawn(
        home.ossup(&server)
            .arg("upload")
            .arg(&folder)
            .arg(&destination)
            .arg("--verbose"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let recorded_done = loop {
        let done: BTreeSet<String> = home
            .job_files()
            .into_iter()
            .filter(|f| f.1 == FileState::Done)
            .map(|f| f.0)
            .collect();
        if done.len() >= 5 {
            break done;
        }
        assert!(Instant::now() < deadline, "no file recorded done in time");
        std::thread::sleep(Duration::from_millis(20));
    };
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    // What the store holds after the kill: at least what was seen done.
    let done_at_kill: BTreeSet<String> = home
        .job_files()
        .into_iter()
        .filter(|f| f.1 == FileState::Done)
        .map(|f| f.0)
        .collect();
    assert!(done_at_kill.is_superset(&recorded_done));
    assert!(done_at_kill.len() < FILES, "the kill landed before the end");

    let listed = run(home.ossup(&server).arg("jobs"));
    let listing = text(&listed);
    assert!(listing.contains("unfinished"), "{listing}");
    assert!(
        listing.contains(&format!("{}/{FILES}", done_at_kill.len())),
        "{listing}"
    );

    let resumed = run(home.ossup(&server).args(["resume", "--all", "--verbose"]));
    let output = text(&resumed);
    assert_eq!(resumed.status.code(), Some(0), "{output}");
    assert!(
        output.contains(&format!("{FILES} of {FILES} uploaded")),
        "{output}"
    );
    let sent_again = uploaded_keys(&output);
    assert!(
        sent_again.is_disjoint(&done_at_kill),
        "files recorded done were sent again: {:?}",
        sent_again.intersection(&done_at_kill).collect::<Vec<_>>()
    );
    assert_eq!(sent_again.len() + done_at_kill.len(), FILES, "{output}");
    let client = server.client();
    for index in 0..FILES {
        let key = format!("up/box/f{index:03}.txt");
        assert_eq!(read_object(&client, &key), data(300, index as u64), "{key}");
    }
    let finished = text(&run(home.ossup(&server).arg("jobs")));
    assert!(finished.contains("finished"), "{finished}");
    assert!(finished.contains(&format!("{FILES}/{FILES}")), "{finished}");
}

#[test]
fn files_named_on_the_command_line_are_one_job_each_with_its_line() {
    let server = Server::start(&[]);
    let home = Home::new();
    let names = ["a.txt", "b.txt", "c.bin"];
    let paths: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(index, name)| home.file(name, &data(2_000, index as u64)))
        .collect();
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .args(&paths)
        .arg(format!("oss://{BUCKET}/named/")));
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    let expected: BTreeSet<String> = names.iter().map(|n| format!("named/{n}")).collect();
    assert_eq!(uploaded_keys(&shown), expected, "{shown}");
    assert!(shown.contains("3 of 3 uploaded"), "{shown}");

    let listing = text(&run(home.ossup(&server).arg("jobs")));
    let job_lines: Vec<&str> = listing.lines().filter(|l| l.contains("oss://")).collect();
    assert_eq!(job_lines.len(), 1, "{listing}");
    assert!(job_lines[0].contains(" finished "), "{listing}");
    assert!(listing.contains("3/3"), "{listing}");
    let stored: BTreeSet<String> = home.job_files().into_iter().map(|f| f.0).collect();
    assert_eq!(stored, expected);
    let client = server.client();
    for (index, name) in names.iter().enumerate() {
        let key = format!("named/{name}");
        assert_eq!(
            read_object(&client, &key),
            data(2_000, index as u64),
            "{key}"
        );
    }
}

#[test]
fn two_named_files_of_one_name_are_both_files_of_the_job() {
    let server = Server::start(&[]);
    let home = Home::new();
    let first = home.file("one/same.txt", &data(500, 1));
    let second = home.file("two/same.txt", &data(700, 2));
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&first)
        .arg(&second)
        .arg(format!("oss://{BUCKET}/both/")));
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(shown.contains("2 of 2 uploaded"), "{shown}");
    assert_eq!(home.job_files().len(), 2);
    // Both went to the one key; the object is one of them, whole.
    let stored = read_object(&server.client(), "both/same.txt");
    assert!(stored == data(500, 1) || stored == data(700, 2));
}

#[cfg(unix)]
#[test]
fn symbolic_links_are_skipped_with_a_reason_unless_followed() {
    let server = Server::start(&[]);
    let home = Home::new();
    home.file("box/real.txt", b"real");
    let outside = home.file("elsewhere/inside.txt", b"linked");
    let folder = home.path().join("files").join("box");
    std::os::unix::fs::symlink(outside.parent().unwrap(), folder.join("linked")).unwrap();

    let plain = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&folder)
        .arg(format!("oss://{BUCKET}/plain/"))
        .arg("--verbose"));
    let output = text(&plain);
    assert_eq!(plain.status.code(), Some(0), "{output}");
    assert!(output.contains("1 of 2 uploaded"), "{output}");
    assert!(output.contains("1 skipped"), "{output}");
    let client = server.client();
    assert_eq!(read_object(&client, "plain/box/real.txt"), b"real");
    let skipped = home
        .job_files()
        .into_iter()
        .find(|f| f.1 == FileState::Skipped)
        .expect("the link is recorded");
    assert!(
        skipped.2.as_deref().unwrap_or("").contains("symbolic link"),
        "{skipped:?}"
    );

    let followed = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&folder)
        .arg(format!("oss://{BUCKET}/followed/"))
        .arg("--follow-symlinks"));
    assert_eq!(followed.status.code(), Some(0), "{}", text(&followed));
    assert_eq!(
        read_object(&client, "followed/box/linked/inside.txt"),
        b"linked"
    );
}

#[test]
fn resuming_a_job_that_does_not_exist_is_refused() {
    let server = Server::start(&[]);
    let home = Home::new();
    let output = run(home.ossup(&server).args(["resume", "--job", "99"]));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("there is no job 99"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_job_resumed_by_number_goes_back_to_the_profile_it_was_started_with() {
    let lab = Server::start(&["--fault-delay-ms", "100", "--fault-scope", "put-object"]);
    let elsewhere = Server::start(&[]);
    let home = Home::new();
    let profile = |name: &str, server: &Server| {
        format!(
            "[profiles.{name}]\nendpoint = \"{}\"\naccess_key_id = \"{KEY_ID}\"\naccess_key_secret = \"{KEY_SECRET}\"\npath_style = true\n",
            server.endpoint
        )
    };
    let config = home.config_file();
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!("{}{}", profile("default", &elsewhere), profile("lab", &lab)),
    )
    .unwrap();
    const FEW: usize = 60;
    for index in 0..FEW {
        home.file(&format!("box/f{index:02}.txt"), &data(100, index as u64));
    }
    let folder = home.path().join("files").join("box");
    let mut first = spawn(
        home.ossup_bare()
            .args(["upload", "--profile", "lab"])
            .arg(&folder)
            .arg(format!("oss://{BUCKET}/up/")),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while home.job_files().iter().all(|f| f.1 != FileState::Done) {
        assert!(Instant::now() < deadline, "no file recorded done in time");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    // Another target named on purpose: refused, naming the job's own.
    let refused = run(home
        .ossup_bare()
        .args(["resume", "--job", "1", "--profile", "default"]));
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("resume it with --profile lab"),
        "{}",
        text(&refused)
    );

    // The number alone: the job's profile is used, not the default one.
    let resumed = run(home.ossup_bare().args(["resume", "--job", "1"]));
    let output = text(&resumed);
    assert_eq!(resumed.status.code(), Some(0), "{output}");
    assert!(
        output.contains(&format!("{FEW} of {FEW} uploaded")),
        "{output}"
    );
    let client = lab.client();
    for index in 0..FEW {
        let key = format!("up/box/f{index:02}.txt");
        assert_eq!(read_object(&client, &key), data(100, index as u64), "{key}");
    }
}
