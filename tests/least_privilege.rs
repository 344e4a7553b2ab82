//! `ossup serve` plays RAM policies: every operation the client sends needs the action
//! Alibaba's RAM documentation gives it, and a key without it gets OSS's `AccessDenied`
//! naming the action; with it (and nothing else) the request goes through.

mod support;

use bytes::Bytes;
use ossup::protocol::client::{
    Body, CompleteOptions, InitiateOptions, ListObjectsV2Params, ListUploadsParams, PutOptions,
};
use ossup::protocol::{OssClient, OssError};
use ossup::server::permissions::{KNOWN_ACTIONS, Permissions};
use ossup::server::{self, RunningServer, ServerConfig};

use support::server::{client_with, default_client};

const BUCKET: &str = server::DEFAULT_BUCKET;
const SECRET: &str = "least-privilege-secret";

#[derive(Debug, Clone, Copy)]
enum Op {
    PutObject,
    InitiateMultipartUpload,
    UploadPart,
    CompleteMultipartUpload,
    HeadObject,
    GetObject,
    ListObjects,
    ListObjectsV2,
    ListMultipartUploads,
    ListParts,
    AbortMultipartUpload,
    DeleteObject,
    PutBucket,
}

/// Each operation and the action it needs.
const CASES: &[(Op, &str)] = &[
    (Op::PutObject, "oss:PutObject"),
    (Op::InitiateMultipartUpload, "oss:PutObject"),
    (Op::UploadPart, "oss:PutObject"),
    (Op::CompleteMultipartUpload, "oss:PutObject"),
    (Op::HeadObject, "oss:GetObject"),
    (Op::GetObject, "oss:GetObject"),
    (Op::ListObjects, "oss:ListObjects"),
    (Op::ListObjectsV2, "oss:ListObjects"),
    (Op::ListMultipartUploads, "oss:ListMultipartUploads"),
    (Op::ListParts, "oss:ListParts"),
    (Op::AbortMultipartUpload, "oss:AbortMultipartUpload"),
    (Op::DeleteObject, "oss:DeleteObject"),
    (Op::PutBucket, "oss:PutBucket"),
];

/// A key allowed only `action`, and one allowed everything but `action`.
fn only(action: &str) -> String {
    format!("ONLY-{}", action.trim_start_matches("oss:"))
}
fn all_but(action: &str) -> String {
    format!("BUT-{}", action.trim_start_matches("oss:"))
}

async fn start() -> (RunningServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path());
    for action in KNOWN_ACTIONS {
        let others: Vec<&str> = KNOWN_ACTIONS
            .iter()
            .copied()
            .filter(|a| a != action)
            .collect();
        for (id, permissions) in [
            (only(action), action.to_string()),
            (all_but(action), others.join(",")),
        ] {
            config.access_keys.push((id.clone(), SECRET.to_owned()));
            config
                .permissions
                .push((id, Permissions::parse(&permissions).unwrap()));
        }
    }
    (server::start(config).await.unwrap(), dir)
}

/// Sends `op` with `client`; the fixtures it needs come from `full`.
async fn attempt(op: Op, client: &OssClient, full: &OssClient) -> Result<(), OssError> {
    let key = "fixture.txt";
    let upload = || async {
        full.initiate_multipart_upload(BUCKET, "mp.bin", &InitiateOptions::default())
            .await
            .unwrap()
            .upload_id
    };
    let small = || Body::Bytes(Bytes::from_static(b"fixture"));
    match op {
        Op::PutObject => client
            .put_object(BUCKET, "put.txt", small(), &PutOptions::default(), None)
            .await
            .map(drop),
        Op::InitiateMultipartUpload => client
            .initiate_multipart_upload(BUCKET, "mp.bin", &InitiateOptions::default())
            .await
            .map(drop),
        Op::UploadPart => {
            let id = upload().await;
            client
                .upload_part(BUCKET, "mp.bin", &id, 1, small(), None)
                .await
                .map(drop)
        }
        Op::CompleteMultipartUpload => {
            let id = upload().await;
            let part = full
                .upload_part(BUCKET, "mp.bin", &id, 1, small(), None)
                .await
                .unwrap();
            let parts = [ossup::protocol::xml::CompletePart {
                part_number: 1,
                etag: part.etag,
            }];
            client
                .complete_multipart_upload(
                    BUCKET,
                    "mp.bin",
                    &id,
                    &parts,
                    &CompleteOptions::default(),
                )
                .await
                .map(drop)
        }
        Op::HeadObject => client.head_object(BUCKET, key).await.map(drop),
        Op::GetObject => client.get_object(BUCKET, key, None).await.map(drop),
        Op::ListObjects => client
            .list_objects(BUCKET, None, None, None)
            .await
            .map(drop),
        Op::ListObjectsV2 => client
            .list_objects_v2(BUCKET, &ListObjectsV2Params::default())
            .await
            .map(drop),
        Op::ListMultipartUploads => client
            .list_multipart_uploads(BUCKET, &ListUploadsParams::default())
            .await
            .map(drop),
        Op::ListParts => {
            let id = upload().await;
            client
                .list_parts(BUCKET, "mp.bin", &id, 0, None)
                .await
                .map(drop)
        }
        Op::AbortMultipartUpload => {
            let id = upload().await;
            client.abort_multipart_upload(BUCKET, "mp.bin", &id).await
        }
        Op::DeleteObject => client.delete_object(BUCKET, "gone.txt").await,
        Op::PutBucket => client.create_bucket("made-by-key").await,
    }
}

#[tokio::test]
async fn every_operation_needs_its_ram_action() {
    let (server, _dir) = start().await;
    let endpoint = server.endpoint();
    let full = default_client(&endpoint);
    full.put_object(
        BUCKET,
        "fixture.txt",
        Body::Bytes(Bytes::from_static(b"fixture")),
        &PutOptions::default(),
        None,
    )
    .await
    .unwrap();
    for &(op, action) in CASES {
        let allowed = client_with(&endpoint, &only(action), SECRET);
        if let Err(error) = attempt(op, &allowed, &full).await {
            panic!("{op:?} with only {action}: {error}");
        }
        let denied = client_with(&endpoint, &all_but(action), SECRET);
        let error = attempt(op, &denied, &full)
            .await
            .expect_err(&format!("{op:?} without {action} must be refused"));
        let service = error.service().unwrap_or_else(|| panic!("{op:?}: {error}"));
        assert_eq!(
            (service.status, service.code.as_str()),
            (403, "AccessDenied"),
            "{op:?}"
        );
        if !matches!(op, Op::HeadObject) {
            assert_eq!(
                service.detail("AuthAction"),
                Some(action),
                "{op:?}: {error}"
            );
            assert!(
                service.message.contains(action),
                "{op:?}: {}",
                service.message
            );
        }
    }
}

#[tokio::test]
async fn a_refused_write_leaves_nothing_behind() {
    let (server, _dir) = start().await;
    let endpoint = server.endpoint();
    let full = default_client(&endpoint);
    let reader = client_with(&endpoint, &all_but("oss:PutObject"), SECRET);
    let refused = reader
        .put_object(
            BUCKET,
            "nope.txt",
            Body::Bytes(Bytes::from(vec![7u8; 300 * 1024])),
            &PutOptions::default(),
            None,
        )
        .await;
    assert!(refused.is_err_and(|e| e.is_code("AccessDenied")));
    let head = full.head_object(BUCKET, "nope.txt").await;
    assert!(head.is_err_and(|e| e.is_code("NoSuchKey")));
    let refused = reader
        .initiate_multipart_upload(BUCKET, "nope.bin", &InitiateOptions::default())
        .await;
    assert!(refused.is_err_and(|e| e.is_code("AccessDenied")));
    let open = full
        .list_multipart_uploads(BUCKET, &ListUploadsParams::default())
        .await
        .unwrap();
    assert!(open.uploads.is_empty());
}

#[tokio::test]
async fn cleanup_says_which_action_an_upload_only_key_lacks() {
    use ossup::engine::remote_uploads::{self, AbortResult, ClassifiedUpload, UploadClass};
    use ossup::ui::remote_page::{PageRequest, fetch_uploads_page};

    let (server, _dir) = start().await;
    let endpoint = server.endpoint();
    let writer = client_with(&endpoint, &only("oss:PutObject"), SECRET);
    let upload_id = writer
        .initiate_multipart_upload(BUCKET, "kept.bin", &InitiateOptions::default())
        .await
        .unwrap()
        .upload_id;

    let listing = remote_uploads::list_uploads(&writer, BUCKET, None, None)
        .await
        .unwrap_err();
    assert_eq!(
        listing.to_string(),
        "this key may not list in-progress uploads (oss:ListMultipartUploads)"
    );
    let parts = remote_uploads::list_upload_parts(&writer, BUCKET, "kept.bin", &upload_id, None)
        .await
        .unwrap_err();
    assert_eq!(
        parts.to_string(),
        "this key may not list the parts of an upload (oss:ListParts)"
    );
    let Err(page) = fetch_uploads_page(
        &writer,
        PageRequest {
            bucket: BUCKET.to_owned(),
            prefix: String::new(),
            after: None,
            sessions: Vec::new(),
        },
    )
    .await
    else {
        panic!("the window's listing must be refused");
    };
    assert!(
        page.contains("this key may not list in-progress uploads (oss:ListMultipartUploads)"),
        "{page}"
    );

    let target = ClassifiedUpload {
        upload: remote_uploads::RemoteUpload {
            bucket: BUCKET.to_owned(),
            key: "kept.bin".to_owned(),
            upload_id: upload_id.clone(),
            initiated: String::new(),
            initiated_at: None,
        },
        class: UploadClass::Orphan,
    };
    let dir = tempfile::tempdir().unwrap();
    let sessions = support::engine::sessions_in(&dir.path().join("queue"), dir.path());
    let outcomes = remote_uploads::abort_uploads(&writer, &sessions, &[target], true).await;
    assert!(
        matches!(&outcomes[0].result, AbortResult::Failed(e) if e.is_code("AccessDenied")),
        "{outcomes:?}"
    );
    let full = default_client(&endpoint);
    let open = full
        .list_multipart_uploads(BUCKET, &ListUploadsParams::default())
        .await
        .unwrap();
    assert_eq!(open.uploads.len(), 1, "the upload is still there");
}

#[tokio::test]
async fn a_missing_bucket_is_reported_as_missing_to_a_limited_key() {
    let (server, _dir) = start().await;
    let writer = client_with(&server.endpoint(), &only("oss:PutObject"), SECRET);
    let listing = writer
        .list_multipart_uploads("no-such-bucket", &ListUploadsParams::default())
        .await;
    assert!(
        listing.as_ref().is_err_and(|e| e.is_code("NoSuchBucket")),
        "{listing:?}"
    );
    let listing = writer
        .list_multipart_uploads(BUCKET, &ListUploadsParams::default())
        .await;
    assert!(
        listing.as_ref().is_err_and(|e| e.is_code("AccessDenied")),
        "{listing:?}"
    );
}
