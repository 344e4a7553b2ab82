//! `ossup uploads ls|parts|abort|prune` against a real `ossup serve`, with uploads left
//! open by another client.

mod support;

use bytes::Bytes;
use ossup::protocol::client::{Body, InitiateOptions};
use support::cli::{BUCKET, Home, Server, open_uploads, run, runtime, text};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `ossup uploads prune TARGET --older-than AGE`, with `--dry-run` if asked.
fn prune(
    home: &Home,
    server: &Server,
    target: &str,
    older_than: &str,
    dry_run: bool,
) -> std::process::Output {
    let mut command = home.ossup(server);
    command.args(["uploads", "prune", target, "--older-than", older_than]);
    if dry_run {
        command.arg("--dry-run");
    }
    run(&mut command)
}

#[test]
fn list_parts_prune_and_abort_orphans() {
    let server = Server::start(&[]);
    let home = Home::new();
    let client = server.client();
    let (first, second) = runtime().block_on(async {
        let first = client
            .initiate_multipart_upload(BUCKET, "left/behind.bin", &InitiateOptions::default())
            .await
            .expect("initiate")
            .upload_id;
        for number in 1..=3u32 {
            client
                .upload_part(
                    BUCKET,
                    "left/behind.bin",
                    &first,
                    number,
                    Body::Bytes(Bytes::from(vec![7u8; 1000])),
                    None,
                )
                .await
                .expect("part");
        }
        let second = client
            .initiate_multipart_upload(BUCKET, "other/one.bin", &InitiateOptions::default())
            .await
            .expect("initiate")
            .upload_id;
        (first, second)
    });

    let output = run(home
        .ossup(&server)
        .args(["uploads", "ls", &format!("oss://{BUCKET}")]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let listed = stdout(&output);
    assert!(
        listed.contains(&first) && listed.contains(&second),
        "{listed}"
    );
    assert!(
        listed.contains("2 upload(s) in progress, 2 orphan(s)"),
        "{listed}"
    );

    let output = run(home.ossup(&server).args([
        "uploads",
        "parts",
        &format!("oss://{BUCKET}/left/behind.bin"),
        "--upload-id",
        &first,
    ]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        stdout(&output).contains("3 part(s)") && stdout(&output).contains("3000 bytes"),
        "{}",
        text(&output)
    );

    // A dry run under a prefix changes nothing.
    let output = prune(&home, &server, &format!("oss://{BUCKET}/left/"), "0s", true);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        stdout(&output).contains(&format!("would abort oss://{BUCKET}/left/behind.bin")),
        "{}",
        text(&output)
    );
    assert_eq!(open_uploads(&client).len(), 2);

    // Nothing is a week old yet.
    let output = prune(&home, &server, &format!("oss://{BUCKET}"), "7d", false);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(stdout(&output).contains("No uploads"), "{}", text(&output));
    assert_eq!(open_uploads(&client).len(), 2);

    // For real, under the prefix: only that one goes.
    let output = prune(
        &home,
        &server,
        &format!("oss://{BUCKET}/left/"),
        "0s",
        false,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        stdout(&output).contains("Aborted 1 of 1"),
        "{}",
        text(&output)
    );
    assert_eq!(
        open_uploads(&client),
        vec![("other/one.bin".to_owned(), second.clone())]
    );

    // Abort by id; a second abort of the same id says it is gone and fails.
    let object = format!("oss://{BUCKET}/other/one.bin");
    let output =
        run(home
            .ossup(&server)
            .args(["uploads", "abort", &object, "--upload-id", &second]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(open_uploads(&client).is_empty());
    let output =
        run(home
            .ossup(&server)
            .args(["uploads", "abort", &object, "--upload-id", &second]));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("has no upload"), "{}", text(&output));

    let output = prune(&home, &server, &format!("oss://{BUCKET}"), "a week", false);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("7d"), "{}", text(&output));
}
