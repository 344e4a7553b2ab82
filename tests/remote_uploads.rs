//! Remote-upload cleanup against the real server in-process: orphan vs resumable vs
//! local-file-missing, abort many, prune dry run vs real, and pagination of uploads and
//! parts.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use ossup::engine::remote_uploads::{self, AbortResult, LocalSession, PruneRequest, UploadClass};
use ossup::engine::session_store::{
    FORMAT_VERSION, FileIdentity, Session, SessionStore, UploadOptions,
};
use ossup::protocol::OssClient;
use ossup::protocol::client::Body;

mod support;

use support::server::{TestServer, initiate, path_style_client};

const BUCKET: &str = "cleanup";
const ID: &str = "REMOTEID";
const SECRET: &str = "remote-secret";

/// The server with its own bucket and key, a client for it, and a folder for local files.
async fn start() -> (TestServer, OssClient, tempfile::TempDir) {
    let server = TestServer::start_with(|config| {
        config.buckets = vec![BUCKET.to_owned()];
        config.access_keys = vec![(ID.to_owned(), SECRET.to_owned())];
    })
    .await;
    let client = path_style_client(&server.endpoint(), ID, SECRET);
    (server, client, tempfile::tempdir().expect("temp dir"))
}

/// The saved sessions of a private data folder.
fn sessions_in(dir: &Path) -> SessionStore {
    SessionStore::open(&dir.join("queue"), &dir.join("sessions"))
        .expect("the queue store opens")
        .0
}

fn save_session(store: &SessionStore, endpoint: &str, local: &Path, key: &str, upload_id: &str) {
    let session = Session {
        format_version: FORMAT_VERSION,
        id: format!("session-{upload_id}"),
        local_path: local.to_owned(),
        file: FileIdentity {
            size: 1,
            mtime_unix_nanos: 0,
            fingerprint: 0,
        },
        endpoint: endpoint.to_owned(),
        bucket: BUCKET.to_owned(),
        key: key.to_owned(),
        upload_id: upload_id.to_owned(),
        part_size: 102_400,
        completed_parts: Vec::new(),
        options: UploadOptions::default(),
        created_unix_secs: 0,
        job: None,
    };
    store.save(&session).expect("session saved");
}

#[tokio::test]
async fn classification_then_abort_many() {
    let (server, client, dir) = start().await;
    let store = sessions_in(dir.path());
    let local = dir.path().join("local.bin");
    std::fs::write(&local, b"x").expect("write");

    let resumable = initiate(&client, BUCKET, "a/resumable.bin").await;
    let missing = initiate(&client, BUCKET, "a/missing.bin").await;
    let orphan = initiate(&client, BUCKET, "a/orphan.bin").await;
    let elsewhere = initiate(&client, BUCKET, "b/elsewhere.bin").await;
    save_session(
        &store,
        &server.endpoint(),
        &local,
        "a/resumable.bin",
        &resumable,
    );
    save_session(
        &store,
        &server.endpoint(),
        &dir.path().join("gone.bin"),
        "a/missing.bin",
        &missing,
    );

    let sessions = remote_uploads::local_sessions(&store).expect("sessions load");
    assert_eq!(sessions.len(), 2);
    let listed = remote_uploads::list_uploads(&client, BUCKET, Some("a/"), None)
        .await
        .expect("lists");
    let classified = remote_uploads::classify(listed, &sessions);
    let class_of = |id: &str| {
        classified
            .iter()
            .find(|c| c.upload.upload_id == id)
            .map(|c| c.class.label())
    };
    assert_eq!(class_of(&resumable), Some("resumable"));
    assert_eq!(class_of(&missing), Some("local file missing"));
    assert_eq!(class_of(&orphan), Some("orphan"));
    assert_eq!(class_of(&elsewhere), None, "outside the prefix");

    // Without confirmation only the orphan goes; the two with sessions stay.
    let outcomes = remote_uploads::abort_uploads(&client, &store, &classified, false).await;
    assert_eq!(outcomes.len(), 3);
    for outcome in &outcomes {
        let expected_gone = outcome.upload.upload_id == orphan;
        assert_eq!(outcome.result.is_gone(), expected_gone, "{outcome:?}");
        if !expected_gone {
            assert!(matches!(outcome.result, AbortResult::NeedsConfirmation(_)));
        }
    }
    let left = remote_uploads::list_uploads(&client, BUCKET, Some("a/"), None)
        .await
        .expect("lists");
    assert_eq!(left.len(), 2);

    // Confirmed: both go, and their sessions are removed.
    let classified = remote_uploads::classify(left, &sessions);
    let outcomes = remote_uploads::abort_uploads(&client, &store, &classified, true).await;
    assert!(
        outcomes.iter().all(|o| matches!(
            o.result,
            AbortResult::Aborted {
                session_removed: Some(_)
            }
        )),
        "{outcomes:?}"
    );
    assert!(
        remote_uploads::local_sessions(&store)
            .expect("loads")
            .is_empty()
    );
    let left = remote_uploads::list_uploads(&client, BUCKET, None, None)
        .await
        .expect("lists");
    assert_eq!(left.len(), 1, "only the upload outside the prefix remains");

    // Aborting again reports it as already gone, not as a failure.
    let outcomes = remote_uploads::abort_uploads(&client, &store, &classified, true).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o.result, AbortResult::AlreadyGone { .. })),
        "{outcomes:?}"
    );
    server.server.shutdown().await;
}

#[tokio::test]
async fn prune_dry_run_then_real() {
    let (server, client, dir) = start().await;
    let store = sessions_in(dir.path());
    let old: Vec<String> = futures_util::future::join_all((0..3).map(|i| {
        let client = client.clone();
        async move { initiate(&client, BUCKET, &format!("old-{i}")).await }
    }))
    .await;
    // OSS dates have whole-second meaning for us: the server's clock moves on by two
    // seconds, so the next upload is measurably younger without waiting for it.
    server.server.clock().advance(Duration::from_secs(2));
    let young = initiate(&client, BUCKET, "young").await;
    let listed = remote_uploads::list_uploads(&client, BUCKET, None, None)
        .await
        .expect("lists");
    let young_at = listed
        .iter()
        .find(|u| u.upload_id == young)
        .and_then(|u| u.initiated_at)
        .expect("dated");
    // Judge ages half a second after the young upload started: the old ones are at least
    // 2.5 s old, the young one 0.5 s.
    let now = young_at + Duration::from_millis(500);
    let request = PruneRequest {
        bucket: BUCKET,
        prefix: None,
        older_than: Duration::from_secs(1),
        now,
        dry_run: true,
        confirm_local_sessions: false,
    };
    let report = remote_uploads::prune(&client, &request, &store, &[])
        .await
        .expect("dry run");
    let mut selected: Vec<_> = report
        .selected
        .iter()
        .map(|c| c.upload.upload_id.clone())
        .collect();
    selected.sort();
    let mut expected = old.clone();
    expected.sort();
    assert_eq!(selected, expected);
    assert!(report.outcomes.is_empty());
    assert_eq!(
        remote_uploads::list_uploads(&client, BUCKET, None, None)
            .await
            .expect("lists")
            .len(),
        4,
        "a dry run changes nothing"
    );

    let report = remote_uploads::prune(
        &client,
        &PruneRequest {
            dry_run: false,
            ..request
        },
        &store,
        &[],
    )
    .await
    .expect("prune");
    assert_eq!(report.outcomes.len(), 3);
    assert!(report.outcomes.iter().all(|o| o.result.is_gone()));
    let left = remote_uploads::list_uploads(&client, BUCKET, None, None)
        .await
        .expect("lists");
    assert_eq!(
        left.iter().map(|u| u.upload_id.clone()).collect::<Vec<_>>(),
        vec![young]
    );
    server.server.shutdown().await;
}

#[tokio::test]
async fn listings_follow_every_page() {
    let (server, client, dir) = start().await;
    let store = sessions_in(dir.path());
    let mut ids = Vec::new();
    for index in 0..23 {
        // Several uploads share a key, so the upload-id marker matters too.
        ids.push(initiate(&client, BUCKET, &format!("paged/key-{:02}", index % 9)).await);
    }
    let listed = remote_uploads::list_uploads(&client, BUCKET, Some("paged/"), Some(5))
        .await
        .expect("lists");
    let mut got: Vec<_> = listed.iter().map(|u| u.upload_id.clone()).collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids, "every upload exactly once over 5 pages");

    let upload_id = &ids[0];
    let key = listed
        .iter()
        .find(|u| &u.upload_id == upload_id)
        .map(|u| u.key.clone())
        .expect("listed");
    let mut expected_total = 0;
    for number in 1..=27u32 {
        let body = Bytes::from(vec![number as u8; 100 + number as usize]);
        expected_total += body.len() as u64;
        client
            .upload_part(BUCKET, &key, upload_id, number, Body::Bytes(body), None)
            .await
            .expect("part");
    }
    let parts = remote_uploads::list_upload_parts(&client, BUCKET, &key, upload_id, Some(4))
        .await
        .expect("parts");
    let numbers: Vec<u32> = parts.parts.iter().map(|p| p.part_number).collect();
    assert_eq!(numbers, (1..=27).collect::<Vec<_>>());
    assert_eq!(parts.total_bytes, expected_total);

    let classified = remote_uploads::classify(listed, &[] as &[LocalSession]);
    assert!(classified.iter().all(|c| c.class == UploadClass::Orphan));
    let outcomes = remote_uploads::abort_uploads(&client, &store, &classified, false).await;
    assert!(outcomes.iter().all(|o| o.result.is_gone()));
    assert!(
        remote_uploads::list_uploads(&client, BUCKET, None, None)
            .await
            .expect("lists")
            .is_empty()
    );
    server.server.shutdown().await;
}
