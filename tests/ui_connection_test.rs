//! Test connection in Settings asks the endpoint of the profile being typed (unsaved)
//! whether it answers, whether the key is valid, whether the bucket exists and what the
//! key may do; the bucket picker lists the key's buckets. Against `ossup serve` keys
//! that play RAM permissions.

mod support;

use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use ossup::server::permissions::Permissions;
use ossup::ui::OssupApp;
use ossup::ui::profile_probe::{ConnectionReport, Finding, PROBE_KEY};
use support::server::{TestServer, path_style_client};
use support::ui::*;

const GENEROUS: Duration = Duration::from_secs(30);
const FULL: (&str, &str) = ("FULLKEYID", "full-secret");
const UPLOAD_ONLY: (&str, &str) = ("UPLOADKEYID", "upload-secret");

fn lab_server(runtime: &tokio::runtime::Runtime) -> TestServer {
    runtime.block_on(TestServer::start_with(|config| {
        config.buckets = vec!["photos".into(), "archive".into()];
        config.access_keys = vec![
            (FULL.0.into(), FULL.1.into()),
            (UPLOAD_ONLY.0.into(), UPLOAD_ONLY.1.into()),
        ];
        config.permissions = vec![(
            UPLOAD_ONLY.0.into(),
            Permissions::parse("upload-only").expect("a permission set"),
        )];
    }))
}

/// Clicks Test connection and waits for its findings.
fn test_connection(harness: &mut Harness<'_, OssupApp>) -> ConnectionReport {
    click(harness, "Test connection");
    wait_until(harness, GENEROUS, "the connection test", |app| {
        !app.settings().probe.testing && app.settings().probe.report.is_some()
    });
    harness.run_steps(2);
    match &harness.state().settings().probe.report {
        Some(Ok(report)) => report.clone(),
        other => panic!("expected findings, got {other:?}"),
    }
}

fn is_yes(finding: &Finding) -> bool {
    matches!(finding, Finding::Yes(_))
}

fn is_no(finding: &Finding, containing: &str) -> bool {
    matches!(finding, Finding::No(text) if text.contains(containing))
}

#[test]
fn test_connection_tells_a_full_key_an_upload_only_key_a_wrong_secret_and_no_server_apart() {
    let dirs = TestDirs::new();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let lab = lab_server(&runtime);
    let other = path_style_client(&lab.endpoint(), FULL.0, FULL.1);
    let mut harness = harness(setup(&dirs, None));
    click(&mut harness, "Settings");
    type_profile(&mut harness, "lab", &lab.endpoint(), "photos", FULL);

    let full = test_connection(&mut harness);
    for finding in [
        &full.endpoint,
        &full.credentials,
        &full.bucket,
        &full.list_uploads,
        &full.upload,
        &full.abort,
    ] {
        assert!(is_yes(finding), "{full:?}");
    }
    harness.get_by_label_contains("Endpoint: answers");
    harness.get_by_label_contains("abort: yes");
    assert!(
        open_uploads_of(&other, "photos").is_empty(),
        "the probe upload was aborted"
    );
    assert!(!dirs.paths.config_file.exists(), "testing saves nothing");

    type_key(&mut harness, UPLOAD_ONLY);
    let upload_only = test_connection(&mut harness);
    assert!(is_yes(&upload_only.endpoint), "{upload_only:?}");
    assert!(is_yes(&upload_only.credentials), "{upload_only:?}");
    assert!(is_yes(&upload_only.bucket), "{upload_only:?}");
    assert!(
        is_no(&upload_only.list_uploads, "AccessDenied"),
        "{upload_only:?}"
    );
    assert!(is_yes(&upload_only.upload), "{upload_only:?}");
    assert!(is_no(&upload_only.abort, PROBE_KEY), "{upload_only:?}");
    harness.get_by_label_contains("list uploads: no");
    let left = open_uploads_of(&other, "photos");
    assert_eq!(left.len(), 1, "the probe upload the key could not abort");
    assert_eq!(left[0].key, PROBE_KEY);
    assert!(
        is_no(&upload_only.abort, &left[0].upload_id),
        "{upload_only:?}"
    );

    type_key(&mut harness, (FULL.0, "not-the-secret"));
    let wrong = test_connection(&mut harness);
    assert!(is_yes(&wrong.endpoint), "{wrong:?}");
    assert!(
        is_no(&wrong.credentials, "SignatureDoesNotMatch"),
        "{wrong:?}"
    );
    assert!(matches!(wrong.bucket, Finding::Unknown(_)), "{wrong:?}");
    harness.get_by_label_contains("Key: not valid");

    type_key(&mut harness, FULL);
    type_into(&mut harness, "Bucket", "no-such-bucket");
    let missing = test_connection(&mut harness);
    assert!(is_yes(&missing.credentials), "{missing:?}");
    assert!(is_no(&missing.bucket, "NoSuchBucket"), "{missing:?}");

    let nothing_listens = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    type_into(&mut harness, "Endpoint", &nothing_listens);
    let refused = test_connection(&mut harness);
    assert!(
        is_no(&refused.endpoint, "connection refused"),
        "{refused:?}"
    );
    assert!(
        matches!(refused.credentials, Finding::Unknown(_)),
        "{refused:?}"
    );
    harness.get_by_label_contains("Endpoint: no answer: connection refused");
}

#[test]
fn the_bucket_picker_lists_the_keys_buckets_or_says_to_type_the_name() {
    let dirs = TestDirs::new();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let lab = lab_server(&runtime);
    let mut harness = harness(setup(&dirs, None));
    click(&mut harness, "Settings");
    type_profile(&mut harness, "lab", &lab.endpoint(), "", FULL);

    click(&mut harness, "List buckets");
    wait_until(&mut harness, GENEROUS, "the bucket listing", |app| {
        app.settings().probe.buckets.is_some()
    });
    harness.run_steps(2);
    assert_eq!(
        harness.state().settings().probe.buckets,
        Some(Ok(vec!["archive".to_owned(), "photos".to_owned()]))
    );
    click(&mut harness, "Pick:");
    click(&mut harness, "photos");
    assert_eq!(harness.state().settings().profile.bucket, "photos");

    type_key(&mut harness, UPLOAD_ONLY);
    click(&mut harness, "List buckets");
    wait_until(&mut harness, GENEROUS, "the refused listing", |app| {
        matches!(app.settings().probe.buckets, Some(Err(_)))
    });
    harness.run_steps(2);
    harness.get_by_label_contains("may not list buckets (AccessDenied): type the bucket name");
    assert_eq!(harness.state().settings().profile.bucket, "photos");
}

fn open_uploads_of(
    client: &ossup::protocol::OssClient,
    bucket: &str,
) -> Vec<ossup::protocol::xml::UploadSummary> {
    block_on(client.list_multipart_uploads(bucket, &Default::default()))
        .expect("listing")
        .uploads
}
