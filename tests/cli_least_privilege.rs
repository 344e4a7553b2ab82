//! `ossup` with keys that may do less than everything, against `ossup serve` playing the
//! RAM policy: an upload-only key uploads and resumes (ListParts denied, the recorded
//! parts trusted), cleanup names the action the key lacks, a read-only key is refused.

mod support;

use std::process::Command;
use std::time::Duration;

use support::cli::{BUCKET, Home, Server, open_uploads, read_object, run, spawn, text, wait_until};
use support::data::data;

const PART: usize = 100 * 1024;
const WRITER_ID: &str = "WRITERKEYID";
const WRITER_SECRET: &str = "writer-secret";
const READER_ID: &str = "READERKEYID";
const READER_SECRET: &str = "reader-secret";

fn start_server(extra: &[&str]) -> Server {
    let writer = format!("{WRITER_ID}:{WRITER_SECRET}:upload-only");
    let reader = format!("{READER_ID}:{READER_SECRET}:read-only");
    let mut args = vec!["--access-key", &writer, "--access-key", &reader];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// `ossup` pointed at `server` with the given key pair.
fn ossup_as(home: &Home, server: &Server, id: &str, secret: &str) -> Command {
    let mut command = home.ossup(server);
    command
        .env("OSS_ACCESS_KEY_ID", id)
        .env("OSS_ACCESS_KEY_SECRET", secret);
    command
}

/// What the command printed, stdout and stderr together.
fn printed(output: &std::process::Output) -> String {
    text(output)
}

#[test]
fn an_upload_only_key_uploads_in_parts_and_says_once_that_it_cannot_list() {
    let server = start_server(&[]);
    let home = Home::new();
    let data = data(PART * 4 + 777, 7);
    let path = home.file("parts.bin", &data);
    let output = run(ossup_as(&home, &server, WRITER_ID, WRITER_SECRET)
        .arg("upload")
        .arg(&path)
        .arg(format!("oss://{BUCKET}/w/parts.bin"))
        .args(["--part-size", "100KiB"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let err = printed(&output);
    assert_eq!(
        err.matches("oss:ListMultipartUploads").count(),
        1,
        "the missing list permission is said once: {}",
        text(&output)
    );
    assert!(read_object(&server.client(), "w/parts.bin") == data);
}

#[test]
fn an_upload_only_key_resumes_after_kill_and_cleanup_names_the_missing_action() {
    let server = start_server(&["--fault-delay-ms", "100"]);
    let home = Home::new();
    let data = data(PART * 12 + 4321, 11);
    let path = home.file("video.bin", &data);
    let key = "w/video.bin";
    let mut child = spawn(
        ossup_as(&home, &server, WRITER_ID, WRITER_SECRET)
            .arg("upload")
            .arg(&path)
            .arg(format!("oss://{BUCKET}/{key}"))
            .args(["--part-size", "100KiB", "--parallel", "1"]),
    );
    let mut upload_id = String::new();
    let reached = wait_until(Duration::from_secs(60), || {
        match home.session_parts().first() {
            Some((id, done)) if *done >= 3 => {
                upload_id = id.clone();
                true
            }
            _ => false,
        }
    });
    assert!(reached, "the session never recorded 3 parts");
    child.kill().expect("kill -9");
    let _ = child.wait();

    // Cleanup with this key: the missing action is named, nothing is lost.
    let ls = run(ossup_as(&home, &server, WRITER_ID, WRITER_SECRET).args([
        "uploads",
        "ls",
        &format!("oss://{BUCKET}"),
    ]));
    assert_ne!(ls.status.code(), Some(0), "{}", text(&ls));
    assert!(
        printed(&ls)
            .contains("this key may not list in-progress uploads (oss:ListMultipartUploads)"),
        "{}",
        text(&ls)
    );
    let abort = run(ossup_as(&home, &server, WRITER_ID, WRITER_SECRET).args([
        "uploads",
        "abort",
        &format!("oss://{BUCKET}/{key}"),
        "--upload-id",
        &upload_id,
        "--yes",
    ]));
    assert_ne!(abort.status.code(), Some(0), "{}", text(&abort));
    assert!(
        printed(&abort).contains("oss:AbortMultipartUpload"),
        "{}",
        text(&abort)
    );
    assert_eq!(home.session_parts().len(), 1, "the session was kept");
    assert_eq!(
        open_uploads(&server.client()),
        vec![(key.to_owned(), upload_id.clone())],
        "the upload is still open"
    );

    // A recorded part the server does not hold as recorded: Complete refuses it and
    // the resume sends it again.
    let sessions = home.sessions();
    let mut session = sessions
        .load_all()
        .expect("sessions load")
        .sessions
        .remove(0);
    let first = &mut session.completed_parts[0];
    let tampered_part = first.number;
    first.etag = "\"00000000000000000000000000000000\"".into();
    sessions
        .save(&session)
        .expect("the tampered session is saved");
    drop(sessions);

    let output = run(ossup_as(&home, &server, WRITER_ID, WRITER_SECRET).args([
        "resume",
        "--all",
        "--parallel",
        "2",
    ]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let err = printed(&output);
    assert!(err.contains("oss:ListParts"), "{}", text(&output));
    assert!(
        err.contains(&format!("refused part {tampered_part}")),
        "{}",
        text(&output)
    );
    let client = server.client();
    assert!(read_object(&client, key) == data, "the object differs");
    assert!(open_uploads(&client).is_empty(), "an upload was left open");
    assert!(
        home.session_parts().is_empty(),
        "the session was not removed"
    );
}

#[test]
fn a_read_only_key_is_refused_in_one_sentence_and_nothing_is_created() {
    let server = start_server(&[]);
    let home = Home::new();
    let small = home.file("small.txt", b"hello");
    let large = home.file("large.bin", &data(PART * 3, 5));
    for (path, key) in [(&small, "r/small.txt"), (&large, "r/large.bin")] {
        let output = run(ossup_as(&home, &server, READER_ID, READER_SECRET)
            .arg("upload")
            .arg(path)
            .arg(format!("oss://{BUCKET}/{key}"))
            .args(["--part-size", "100KiB"]));
        assert_ne!(output.status.code(), Some(0), "{}", text(&output));
        let err = printed(&output);
        assert!(
            err.contains("this key may not write objects (oss:PutObject)"),
            "{}",
            text(&output)
        );
        let client = server.client();
        let head = support::cli::runtime().block_on(client.head_object(BUCKET, key));
        assert!(
            head.as_ref().is_err_and(|e| e.is_code("NoSuchKey")),
            "{key}: {head:?}"
        );
        assert!(open_uploads(&client).is_empty(), "an upload was created");
    }
}
