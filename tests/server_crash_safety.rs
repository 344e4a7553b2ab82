//! `ossup serve` stopped between the disk steps of Complete or Abort, as a kill would stop
//! it, then restarted on the same data directory: a retried Complete or an Abort must not
//! destroy the object, and the server vouches only for bytes it holds.
//!
//! The parts go up over HTTP; the stopped Complete runs on the store itself with a
//! [`CrashPoint`], since a kill leaves nothing else behind; then a fresh in-process server
//! answers the client.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use ossup::protocol::client::{Body, CompleteOptions, InitiateOptions, OssClient};
use ossup::protocol::crc64;
use ossup::protocol::xml::CompletePart;
use ossup::server::store::{CrashPoint, Store};
use ossup::server::{
    self, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_BUCKET, RunningServer,
    ServerConfig,
};

mod support;

use support::data::data;
use support::server::client_with;

const KEY: &str = "crash/object.bin";
const MIN_PART: usize = 102_400;

struct Serving {
    server: RunningServer,
    client: OssClient,
}

async fn serve(dir: &Path) -> Serving {
    let server = server::start(ServerConfig::new(dir))
        .await
        .expect("the server starts");
    let client = client_with(
        &server.endpoint(),
        DEFAULT_ACCESS_KEY_ID,
        DEFAULT_ACCESS_KEY_SECRET,
    );
    Serving { server, client }
}

/// An upload of three parts, 358,400 bytes in all, as the client's Complete names them.
struct Uploaded {
    upload_id: String,
    parts: Vec<CompletePart>,
    bytes: Vec<u8>,
}

async fn upload_three_parts(serving: &Serving) -> Uploaded {
    let client = &serving.client;
    let upload_id = client
        .initiate_multipart_upload(DEFAULT_BUCKET, KEY, &InitiateOptions::default())
        .await
        .expect("initiate")
        .upload_id;
    let mut parts = Vec::new();
    let mut bytes = Vec::new();
    for (number, size) in [(1u32, MIN_PART), (2, MIN_PART), (3, 153_600)] {
        let body = data(size, u64::from(number));
        let sent = client
            .upload_part(
                DEFAULT_BUCKET,
                KEY,
                &upload_id,
                number,
                Body::Bytes(Bytes::from(body.clone())),
                None,
            )
            .await
            .expect("upload part");
        parts.push(CompletePart {
            part_number: number,
            etag: sent.etag,
        });
        bytes.extend_from_slice(&body);
    }
    assert_eq!(bytes.len(), 358_400);
    Uploaded {
        upload_id,
        parts,
        bytes,
    }
}

/// Runs Complete on the store in `dir`, stopped at `point` as a kill there would stop it.
async fn complete_stopped_at(dir: &Path, point: CrashPoint, uploaded: &Uploaded) {
    let store = Arc::new(Store::open(dir, &[DEFAULT_BUCKET.to_owned()]).expect("the store"));
    store.stop_at(point);
    let stopped = store
        .complete(
            DEFAULT_BUCKET,
            KEY,
            &uploaded.upload_id,
            Some(&uploaded.parts),
            false,
        )
        .await
        .expect_err("the Complete stops at the crash point");
    assert_eq!(stopped.code, "InternalError");
}

async fn complete(serving: &Serving, uploaded: &Uploaded) -> Result<(), Option<String>> {
    serving
        .client
        .complete_multipart_upload(
            DEFAULT_BUCKET,
            KEY,
            &uploaded.upload_id,
            &uploaded.parts,
            &CompleteOptions::default(),
        )
        .await
        .map(drop)
        .map_err(|e| e.code().map(str::to_owned))
}

/// The object holds every byte, and the CRC-64 the server reports is that of those bytes.
async fn assert_whole(serving: &Serving, uploaded: &Uploaded) {
    let got = serving
        .client
        .get_object(DEFAULT_BUCKET, KEY, None)
        .await
        .expect("GET answers");
    assert_eq!(got.len(), uploaded.bytes.len(), "bytes served");
    assert!(got == uploaded.bytes, "the bytes served differ");
    let head = serving
        .client
        .head_object(DEFAULT_BUCKET, KEY)
        .await
        .expect("HEAD answers");
    assert_eq!(head.crc64, Some(crc64::checksum(&uploaded.bytes)));
}

async fn upload_then_stop_complete_at(point: CrashPoint) -> (tempfile::TempDir, Uploaded) {
    let dir = tempfile::tempdir().expect("temp dir");
    let serving = serve(dir.path()).await;
    let uploaded = upload_three_parts(&serving).await;
    serving.server.shutdown().await;
    complete_stopped_at(dir.path(), point, &uploaded).await;
    (dir, uploaded)
}

#[tokio::test]
async fn a_complete_retried_after_a_crash_between_its_steps_keeps_every_byte() {
    let (dir, uploaded) = upload_then_stop_complete_at(CrashPoint::ObjectRecordWritten).await;
    let serving = serve(dir.path()).await;
    // The object is recorded: the upload is over, as OSS answers once it is completed.
    assert_eq!(
        complete(&serving, &uploaded).await,
        Err(Some("NoSuchUpload".into()))
    );
    assert_whole(&serving, &uploaded).await;

    // And again after another restart: nothing was left to finish or to sweep wrongly.
    serving.server.shutdown().await;
    let serving = serve(dir.path()).await;
    assert_whole(&serving, &uploaded).await;
}

#[tokio::test]
async fn an_abort_after_a_half_done_complete_deletes_nothing_the_object_names() {
    let (dir, uploaded) = upload_then_stop_complete_at(CrashPoint::ObjectRecordWritten).await;
    let serving = serve(dir.path()).await;
    let aborted = serving
        .client
        .abort_multipart_upload(DEFAULT_BUCKET, KEY, &uploaded.upload_id)
        .await;
    assert_eq!(
        aborted.map_err(|e| e.code().map(str::to_owned)),
        Err(Some("NoSuchUpload".into()))
    );
    assert_whole(&serving, &uploaded).await;
}

#[tokio::test]
async fn a_complete_stopped_after_closing_the_upload_is_whole_after_a_restart() {
    let (dir, uploaded) = upload_then_stop_complete_at(CrashPoint::UploadRecordRemoved).await;
    let serving = serve(dir.path()).await;
    assert_whole(&serving, &uploaded).await;
    assert_eq!(
        complete(&serving, &uploaded).await,
        Err(Some("NoSuchUpload".into()))
    );
    let uploads_dir = dir
        .path()
        .join("buckets")
        .join(DEFAULT_BUCKET)
        .join("uploads");
    assert_eq!(std::fs::read_dir(uploads_dir).expect("uploads").count(), 0);
}

#[tokio::test]
async fn complete_refuses_parts_whose_bytes_are_not_all_there() {
    let dir = tempfile::tempdir().expect("temp dir");
    let serving = serve(dir.path()).await;
    let uploaded = upload_three_parts(&serving).await;
    let blobs = dir
        .path()
        .join("buckets")
        .join(DEFAULT_BUCKET)
        .join("blobs");
    let blob = std::fs::read_dir(&blobs)
        .expect("blobs")
        .next()
        .expect("a part blob")
        .expect("an entry")
        .path();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&blob)
        .and_then(|file| file.set_len(1_000))
        .expect("shorten a part's blob");

    assert_eq!(
        complete(&serving, &uploaded).await,
        Err(Some("InvalidPart".into()))
    );
    let head = serving.client.head_object(DEFAULT_BUCKET, KEY).await;
    assert_eq!(
        head.map_err(|e| e.code().map(str::to_owned)).map(drop),
        Err(Some("NoSuchKey".into()))
    );
}
