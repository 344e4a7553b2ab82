//! `ossup upload` end to end against a real `ossup serve` process: edge sizes around the
//! part boundaries, a folder of 1,000 files, stdin; every object read back and compared.

mod support;

use std::io::Write;
use std::process::Stdio;

use support::cli::{BUCKET, Home, Server, read_object, run, text};
use support::data::data;

const PART: usize = 100 * 1024;

#[test]
fn sizes_around_part_boundaries_arrive_byte_identical() {
    let server = Server::start(&[]);
    let home = Home::new();
    let sizes = [
        ("empty.bin", 0),
        ("one.bin", 1),
        ("under-min.bin", 100 * 1000 - 1),
        ("one-part.bin", PART),
        ("one-part-plus-one.bin", PART + 1),
        ("three-and-a-half.bin", PART * 7 / 2),
    ];
    let mut paths = Vec::new();
    for (index, (name, size)) in sizes.iter().enumerate() {
        paths.push(home.file(name, &data(*size, index as u64 + 1)));
    }
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .args(&paths)
        .arg(format!("oss://{BUCKET}/sizes/"))
        .args(["--part-size", "100KiB", "--parallel", "3"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("6 of 6 uploaded"), "{}", text(&output));

    let client = server.client();
    for (index, (name, size)) in sizes.iter().enumerate() {
        let got = read_object(&client, &format!("sizes/{name}"));
        assert_eq!(got.len(), *size, "{name}");
        assert!(got == data(*size, index as u64 + 1), "{name} differs");
    }
    assert!(support::cli::open_uploads(&client).is_empty());
    assert!(
        home.session_parts().is_empty(),
        "finished uploads leave no session"
    );
}

#[test]
fn a_single_file_to_an_exact_key() {
    let server = Server::start(&[]);
    let home = Home::new();
    let path = home.file("report.pdf", &data(PART * 2 + 5, 9));
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&path)
        .arg(format!("oss://{BUCKET}/docs/2025-report.pdf"))
        .args(["--part-size", "100KiB", "--limit-rate", "50MiB/s"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let got = read_object(&server.client(), "docs/2025-report.pdf");
    assert!(got == data(PART * 2 + 5, 9));
}

#[test]
fn a_folder_of_a_thousand_small_files() {
    let server = Server::start(&[]);
    let home = Home::new();
    let root = home.path().join("files").join("album");
    for index in 0..1000u64 {
        let sub = format!("day{}", index % 7);
        let path = root.join(&sub).join(format!("photo-{index:04}.jpg"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, data(64 + (index as usize % 900), index)).expect("write");
    }
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&root)
        .arg(format!("oss://{BUCKET}/trips/")));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("1000 of 1000 uploaded"),
        "{}",
        text(&output)
    );

    let client = server.client();
    let runtime = support::cli::runtime();
    let mut listed = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = runtime
            .block_on(client.list_objects(
                BUCKET,
                Some("trips/album/"),
                marker.as_deref(),
                Some(1000),
            ))
            .expect("ListObjects");
        listed.extend(page.contents.into_iter().map(|o| (o.key, o.size)));
        match page.next_marker.filter(|_| page.is_truncated) {
            Some(next) => marker = Some(next),
            None => break,
        }
    }
    assert_eq!(listed.len(), 1000);
    for index in 0..1000u64 {
        let key = format!("trips/album/day{}/photo-{index:04}.jpg", index % 7);
        let expected = data(64 + (index as usize % 900), index);
        assert!(
            listed.contains(&(key.clone(), expected.len() as u64)),
            "{key} missing or wrong size"
        );
        // Reading every object back costs ~1,000 small GETs; one in ten is enough to
        // catch mixed-up contents, the listing checked every size.
        if index % 10 == 0 {
            assert!(read_object(&client, &key) == expected, "{key} differs");
        }
    }
}

#[test]
fn stdin_streams_into_one_object() {
    let server = Server::start(&[]);
    let home = Home::new();
    let data = data(PART * 7 / 2 + 17, 77);
    let mut child = home
        .ossup(&server)
        .arg("upload")
        .arg("-")
        .arg(format!("oss://{BUCKET}/piped/data.bin"))
        .args(["--part-size", "100KiB"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ossup starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = {
        let data = data.clone();
        std::thread::spawn(move || {
            stdin.write_all(&data).expect("write stdin");
        })
    };
    writer.join().expect("writer thread");
    let output = child.wait_with_output().expect("ossup ends");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(read_object(&server.client(), "piped/data.bin") == data);
}

#[test]
fn forbid_overwrite_skips_existing_objects() {
    let server = Server::start(&[]);
    let home = Home::new();
    let path = home.file("keep.txt", b"first version");
    let destination = format!("oss://{BUCKET}/keep.txt");
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&path)
        .arg(&destination));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    std::fs::write(&path, b"second version").expect("rewrite");
    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&path)
        .arg(&destination)
        .arg("--forbid-overwrite"));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("skipped"),
        "{}",
        text(&output)
    );
    assert_eq!(read_object(&server.client(), "keep.txt"), b"first version");
}

/// A folder holding a file whose name is not UTF-8 is refused as a whole, with the
/// engine's own sentence, rather than uploaded under a key with U+FFFD in it; the rest of
/// the folder goes up and the run says it failed.
#[cfg(unix)]
#[test]
fn a_file_with_a_name_that_is_not_utf8_is_refused_and_the_rest_goes_up() {
    use std::os::unix::ffi::OsStrExt;
    let server = Server::start(&[]);
    let home = Home::new();
    let folder = home
        .file("box/ok.txt", b"fine")
        .parent()
        .unwrap()
        .to_path_buf();
    let bad = folder.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
    std::fs::write(&bad, b"latin-1 name").unwrap();
    let expected = ossup::engine::folder_plan::plan_folder(&folder, "box/").problems;
    assert_eq!(expected.len(), 1, "{expected:?}");

    let output = run(home
        .ossup(&server)
        .arg("upload")
        .arg(&folder)
        .arg(format!("oss://{BUCKET}/")));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&expected[0]), "{stdout}");
    assert!(stdout.contains("1 of 2 uploaded"), "{stdout}");
    assert!(stdout.contains("1 failed"), "{stdout}");
    let client = server.client();
    let head = support::cli::runtime().block_on(client.head_object(BUCKET, "box/caf\u{fffd}.txt"));
    assert!(head.is_err(), "no key with U+FFFD");
    assert_eq!(read_object(&client, "box/ok.txt"), b"fine");
}
