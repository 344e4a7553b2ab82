//! The disk store behind `ossup serve`, with an in-memory index of everything on disk.
//!
//! Layout under the data directory:
//!
//! ```text
//! tmp/                                       bodies being received; emptied at start
//! buckets/<bucket>/blobs/<id>                object and part bytes, never changed once in place
//! buckets/<bucket>/objects/<sha256(key)>.json   ObjectMeta: attributes and the blob list
//! buckets/<bucket>/uploads/<upload id>/upload.json       UploadMeta
//! buckets/<bucket>/uploads/<upload id>/part-NNNNN.json   PartMeta
//! buckets/<bucket>/lifecycle.json            LifecycleRecord: the bucket's lifecycle rules
//! quarantine/<bucket>/<where it was>         records set aside at start, kept for a person
//! ```
//!
//! ## Order on disk
//!
//! Each step is durable (see [`crate::durable`]) before the next relies on it:
//!
//! 1. A body is received into `tmp/`, then moved to `blobs/`: fsync of the blob, rename,
//!    fsync of `blobs/`.
//! 2. Only then is the record naming it written: a temporary file beside it, fsync,
//!    rename, fsync of the folder. So a record never names bytes a power cut can lose,
//!    and a crash between 1 and 2 leaves a blob no record names.
//! 3. Complete checks that every chosen part's blob holds the part's size, writes the
//!    object's record (the part blobs in order: no bytes are copied), then removes
//!    `upload.json`. Abort removes `upload.json`. After the answer, the upload's folder
//!    and the blobs no record names any more are deleted.
//!
//! A blob is deleted only when no record, object or upload, names it.
//!
//! ## At start
//!
//! - `tmp/` and temporary records a crash left are removed.
//! - A record that cannot be read, carries an id the server would not have made, or names
//!   a blob that is missing or of another size, is moved to `quarantine/` with a warning;
//!   nothing is deleted on uncertainty.
//! - An upload whose parts an object already names is a Complete stopped between its two
//!   steps: it is finished by removing the upload, so a retried Complete answers
//!   NoSuchUpload and an Abort deletes nothing the object needs.
//! - An upload folder without `upload.json` was completed or aborted: it is removed.
//! - Blobs no record names are deleted, except in a bucket with anything in quarantine.
//!
//! All changes go through one async lock around the index, held while the records are
//! written; request bodies are streamed to `tmp/` before that, outside the lock.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::clock::Clock;
use super::completion;
use super::errors::{self, ServerError};
use super::listing::UploadKey;
use super::meta::{
    FORMAT_VERSION, LifecycleRecord, ObjectAttributes, ObjectMeta, PartMeta, UploadMeta,
};
use crate::durable;
use crate::protocol::ServiceError;
use crate::protocol::lifecycle::LifecycleConfiguration;
use crate::protocol::limits::MAX_PARTS;
use crate::protocol::object_key::validate_bucket_name;
use crate::protocol::xml::CompletePart;

/// What the index knows about one bucket.
#[derive(Debug, Default)]
pub struct BucketIndex {
    pub objects: BTreeMap<String, ObjectMeta>,
    /// Uploads in progress, by key then upload id (which sorts by initiation).
    pub uploads: BTreeSet<UploadKey>,
    /// The lifecycle rules as stored, with their parsed form the server applies.
    pub lifecycle: Option<(LifecycleRecord, LifecycleConfiguration)>,
}

/// An upload in progress with its parts.
#[derive(Debug, Clone)]
pub struct UploadEntry {
    pub bucket: String,
    pub meta: UploadMeta,
    pub parts: BTreeMap<u32, PartMeta>,
}

/// Everything on disk, in memory.
#[derive(Debug, Default)]
pub struct Index {
    pub buckets: BTreeMap<String, BucketIndex>,
    pub uploads: HashMap<String, UploadEntry>,
}

impl Index {
    fn bucket(&self, bucket: &str) -> Result<&BucketIndex, ServiceError> {
        self.buckets
            .get(bucket)
            .ok_or_else(|| errors::no_such_bucket(bucket))
    }

    fn bucket_mut(&mut self, bucket: &str) -> Result<&mut BucketIndex, ServiceError> {
        self.buckets
            .get_mut(bucket)
            .ok_or_else(|| errors::no_such_bucket(bucket))
    }

    /// Every blob of `bucket` that an object or an upload's part names.
    fn named_blobs(&self, bucket: &str) -> HashSet<&str> {
        let objects = self
            .buckets
            .get(bucket)
            .into_iter()
            .flat_map(|contents| contents.objects.values())
            .flat_map(|object| object.segments.iter().map(|s| s.blob.as_str()));
        let parts = self
            .uploads
            .values()
            .filter(|upload| upload.bucket == bucket)
            .flat_map(|upload| upload.parts.values().map(|p| p.blob.as_str()));
        objects.chain(parts).collect()
    }

    /// Those of `candidates` that no record of `bucket` names: the only ones that may go.
    fn unnamed_blobs(
        &self,
        bucket: &str,
        candidates: impl IntoIterator<Item = String>,
    ) -> Vec<String> {
        let candidates: Vec<String> = candidates.into_iter().collect();
        if candidates.is_empty() {
            return candidates;
        }
        let named = self.named_blobs(bucket);
        candidates
            .into_iter()
            .filter(|blob| !named.contains(blob.as_str()))
            .collect()
    }

    /// The upload `upload_id`, provided it belongs to `bucket`/`key`.
    pub fn upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<&UploadEntry, ServiceError> {
        self.bucket(bucket)?;
        self.uploads
            .get(upload_id)
            .filter(|u| u.bucket == bucket && u.meta.key == key)
            .ok_or_else(|| errors::no_such_upload(upload_id))
    }
}

/// A file under `tmp/` that is deleted when dropped, unless it was moved into place.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn disarm(mut self) -> PathBuf {
        self.armed = false;
        std::mem::take(&mut self.path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A place between two disk steps where a test can stop the store as a kill would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// A body is in place as a blob; the record naming it is not written yet.
    BlobInPlace,
    /// Complete has written the object's record; `upload.json` is still there.
    ObjectRecordWritten,
    /// Complete or Abort has removed `upload.json`; nothing is cleaned up yet.
    UploadRecordRemoved,
}

/// The disk store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    index: Mutex<Index>,
    /// Last time stamp handed out in an upload id, so ids strictly increase.
    last_upload_stamp: AtomicU64,
    /// Test hook: the operation reaching this point stops there (see [`Store::stop_at`]).
    crash_point: std::sync::Mutex<Option<CrashPoint>>,
    /// Time for upload initiation and lifecycle rules; tests move it forward.
    pub clock: Arc<Clock>,
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(errors::internal_error(&format!("file task failed: {e}"))))
}

fn random_hex(bytes: usize) -> String {
    let data: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode_upper(data)
}

/// The blobs of an object that was replaced or deleted, if there was one.
fn blobs_of(gone: Option<ObjectMeta>) -> impl Iterator<Item = String> {
    gone.into_iter()
        .flat_map(|object| object.segments)
        .map(|segment| segment.blob)
}

/// Upload ids (a 16-digit time stamp and 8 random bytes) and blob ids (16 random bytes)
/// are both this many upper-case hex digits.
const GENERATED_ID_LEN: usize = 32;

fn new_blob_id() -> String {
    random_hex(GENERATED_ID_LEN / 2)
}

/// Whether `id` has the exact shape of the ids this server makes. Ids read from disk
/// become paths, so anything else (`../..`, a slash) is refused.
fn is_generated_id(id: &str) -> bool {
    id.len() == GENERATED_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'))
}

fn key_file_name(key: &str) -> String {
    format!("{}.json", hex::encode(Sha256::digest(key.as_bytes())))
}

fn part_file_name(part_number: u32) -> String {
    format!("part-{part_number:05}.json")
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ServerError {
    let path = path.to_owned();
    move |source| ServerError::Io {
        action,
        path,
        source,
    }
}

/// A record and its checks; `Err` says why it cannot be used.
fn read_record<T: DeserializeOwned>(
    path: &Path,
    check: impl FnOnce(&T) -> Result<(), String>,
) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let record = serde_json::from_slice::<T>(&bytes).map_err(|e| e.to_string())?;
    check(&record)?;
    Ok(record)
}

fn check_version(version: u32) -> Result<(), String> {
    if version == FORMAT_VERSION {
        Ok(())
    } else {
        Err(format!(
            "format version {version} is not the supported {FORMAT_VERSION}"
        ))
    }
}

/// Checks that `blob` is a name this server makes and holds exactly `size` bytes.
fn check_blob(blobs_dir: &Path, blob: &str, size: u64) -> Result<(), String> {
    if !is_generated_id(blob) {
        return Err(format!("blob id {blob:?} is not one this server makes"));
    }
    match std::fs::metadata(blobs_dir.join(blob)) {
        Ok(meta) if meta.is_file() && meta.len() == size => Ok(()),
        Ok(meta) => Err(format!(
            "blob {blob} holds {} bytes, not {size}",
            meta.len()
        )),
        Err(e) => Err(format!("blob {blob}: {e}")),
    }
}

fn check_object(object: &ObjectMeta, file_name: &str, blobs_dir: &Path) -> Result<(), String> {
    check_version(object.format_version)?;
    if file_name != key_file_name(&object.key) {
        return Err("the file name is not the hash of the key inside".into());
    }
    let mut total = 0u64;
    for segment in &object.segments {
        check_blob(blobs_dir, &segment.blob, segment.size)?;
        total = total.saturating_add(segment.size);
    }
    if total != object.size {
        return Err(format!("the blobs hold {total} bytes, not {}", object.size));
    }
    Ok(())
}

fn check_upload(upload: &UploadMeta, dir_name: &str) -> Result<(), String> {
    check_version(upload.format_version)?;
    if !is_generated_id(&upload.upload_id) || upload.upload_id != dir_name {
        return Err(format!(
            "upload id {:?} is not one this server makes for folder {dir_name:?}",
            upload.upload_id
        ));
    }
    Ok(())
}

fn check_part(part: &PartMeta, file_name: &str, blobs_dir: &Path) -> Result<(), String> {
    check_version(part.format_version)?;
    if !(1..=MAX_PARTS).contains(&part.part_number) || file_name != part_file_name(part.part_number)
    {
        return Err(format!(
            "part number {} does not match the file name",
            part.part_number
        ));
    }
    check_blob(blobs_dir, &part.blob, part.size)
}

fn child_entries(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    }
}

fn file_name_of(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// Where a bucket's records are set aside.
/// Where a bucket's lifecycle rules are kept, in its folder.
const LIFECYCLE_FILE: &str = "lifecycle.json";

fn quarantine_dir(root: &Path, bucket: &str) -> PathBuf {
    root.join("quarantine").join(bucket)
}

impl Store {
    /// Opens (or creates) the store at `root`, loads the index, clears `tmp/`, deletes
    /// blobs no record names, and creates the `buckets` that do not exist yet.
    pub fn open(root: &Path, buckets: &[String]) -> Result<Self, ServerError> {
        for bucket in buckets {
            validate_bucket_name(bucket).map_err(|e| ServerError::Config(e.to_string()))?;
        }
        let tmp = root.join("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io_error("cannot create", &tmp))?;
        let buckets_dir = root.join("buckets");
        std::fs::create_dir_all(&buckets_dir).map_err(io_error("cannot create", &buckets_dir))?;

        let mut index = Index::default();
        let mut doubtful = HashSet::new();
        for bucket_dir in child_entries(&buckets_dir) {
            let Some(name) = bucket_dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if validate_bucket_name(name).is_err() || !bucket_dir.is_dir() {
                continue;
            }
            let name = name.to_owned();
            let loader = BucketLoader {
                root,
                bucket: &name,
                dir: &bucket_dir,
                set_aside_any: false,
            };
            let (bucket_index, set_aside_any) = loader.load(&mut index.uploads);
            if set_aside_any {
                doubtful.insert(name.clone());
            }
            index.buckets.insert(name, bucket_index);
        }
        for (bucket, _) in index.buckets.iter() {
            sweep_blobs(root, bucket, &index, doubtful.contains(bucket));
        }
        // Ids issued after a restart must still sort after the ones on disk.
        let last_stamp = index
            .uploads
            .keys()
            .filter_map(|id| id.get(..16).and_then(|s| u64::from_str_radix(s, 16).ok()))
            .max()
            .unwrap_or(0);
        let store = Self {
            root: root.to_owned(),
            index: Mutex::new(index),
            last_upload_stamp: AtomicU64::new(last_stamp),
            crash_point: std::sync::Mutex::new(None),
            clock: Arc::default(),
        };
        for bucket in buckets {
            store.create_bucket_dirs(bucket)?;
            store
                .index
                .try_lock()
                .map_err(|_| ServerError::Config("store busy while opening".into()))?
                .buckets
                .entry(bucket.clone())
                .or_default();
        }
        Ok(store)
    }

    fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join("buckets").join(bucket)
    }

    pub fn blob_path(&self, bucket: &str, blob: &str) -> PathBuf {
        self.bucket_dir(bucket).join("blobs").join(blob)
    }

    fn object_record_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.bucket_dir(bucket)
            .join("objects")
            .join(key_file_name(key))
    }

    fn upload_dir(&self, bucket: &str, upload_id: &str) -> PathBuf {
        self.bucket_dir(bucket).join("uploads").join(upload_id)
    }

    fn create_bucket_dirs(&self, bucket: &str) -> Result<(), ServerError> {
        for sub in ["blobs", "objects", "uploads"] {
            let dir = self.bucket_dir(bucket).join(sub);
            durable::create_dir_all(&dir).map_err(io_error("cannot create", &dir))?;
        }
        Ok(())
    }

    /// Test hook: the next operation that reaches `point` stops there with an error,
    /// leaving the disk as a kill at that moment would and the index unchanged. Drop the
    /// store afterwards and open it again, as after a restart.
    pub fn stop_at(&self, point: CrashPoint) {
        *self
            .crash_point
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(point);
    }

    fn reached(&self, point: CrashPoint) -> Result<(), ServiceError> {
        let armed = *self
            .crash_point
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if armed == Some(point) {
            return Err(errors::internal_error(&format!("stopped at {point:?}")));
        }
        Ok(())
    }

    /// Moves a received body into place as `blob` and writes the record naming it, in
    /// that order, each durably.
    fn store_blob_then_record<T: Serialize>(
        &self,
        body: TempFile,
        blob_path: &Path,
        record_path: &Path,
        record: &T,
    ) -> Result<(), ServiceError> {
        let from = body.disarm();
        durable::persist(&from, blob_path).map_err(|e| errors::io_failure("storing a body", &e))?;
        self.reached(CrashPoint::BlobInPlace)?;
        self.write_record(record_path, record)
    }

    /// A fresh file name under `tmp/` for a body being received.
    pub fn new_temp_file(&self) -> TempFile {
        TempFile {
            path: self
                .root
                .join("tmp")
                .join(format!("body-{}", random_hex(12))),
            armed: true,
        }
    }

    /// Reads the index under the lock.
    pub async fn read<T>(&self, view: impl FnOnce(&Index) -> T) -> T {
        view(&*self.index.lock().await)
    }

    pub async fn create_bucket(self: &Arc<Self>, bucket: &str) -> Result<(), ServiceError> {
        validate_bucket_name(bucket).map_err(|e| errors::invalid_bucket_name(&e.to_string()))?;
        let mut index = self.index.lock().await;
        if index.buckets.contains_key(bucket) {
            return Ok(());
        }
        let store = self.clone();
        let name = bucket.to_owned();
        blocking(move || {
            store
                .create_bucket_dirs(&name)
                .map_err(|e| errors::internal_error(&e.to_string()))
        })
        .await?;
        index
            .buckets
            .insert(bucket.to_owned(), BucketIndex::default());
        Ok(())
    }

    pub async fn delete_bucket(self: &Arc<Self>, bucket: &str) -> Result<(), ServiceError> {
        let mut index = self.index.lock().await;
        let contents = index.bucket(bucket)?;
        if !contents.objects.is_empty() || !contents.uploads.is_empty() {
            return Err(errors::bucket_not_empty(bucket));
        }
        let dir = self.bucket_dir(bucket);
        blocking(move || {
            std::fs::remove_dir_all(&dir).map_err(|e| errors::io_failure("deleting a bucket", &e))
        })
        .await?;
        index.buckets.remove(bucket);
        Ok(())
    }

    /// Stores a new object whose bytes are in `body`, replacing any object of that key
    /// unless `forbid_overwrite`.
    pub async fn put_object(
        self: &Arc<Self>,
        bucket: &str,
        mut object: ObjectMeta,
        body: TempFile,
        forbid_overwrite: bool,
    ) -> Result<ObjectMeta, ServiceError> {
        let mut index = self.index.lock().await;
        let contents = index.bucket(bucket)?;
        if forbid_overwrite && contents.objects.contains_key(&object.key) {
            return Err(errors::file_already_exists(&object.key, false));
        }
        let blob = new_blob_id();
        object.segments = vec![super::meta::Segment {
            blob: blob.clone(),
            size: object.size,
        }];
        let blob_path = self.blob_path(bucket, &blob);
        let record_path = self.object_record_path(bucket, &object.key);
        let record = object.clone();
        let store = self.clone();
        blocking(move || store.store_blob_then_record(body, &blob_path, &record_path, &record))
            .await?;
        let replaced = index
            .bucket_mut(bucket)?
            .objects
            .insert(object.key.clone(), object.clone());
        let unused = index.unnamed_blobs(bucket, blobs_of(replaced));
        drop(index);
        self.delete_blobs(bucket, unused).await;
        Ok(object)
    }

    pub async fn object(&self, bucket: &str, key: &str) -> Result<ObjectMeta, ServiceError> {
        let index = self.index.lock().await;
        index
            .bucket(bucket)?
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| errors::no_such_key(key))
    }

    /// Deletes an object; deleting a missing object is not an error, as with OSS.
    pub async fn delete_object(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
    ) -> Result<(), ServiceError> {
        let mut index = self.index.lock().await;
        if !index.bucket(bucket)?.objects.contains_key(key) {
            return Ok(());
        }
        let record_path = self.object_record_path(bucket, key);
        blocking(move || match std::fs::remove_file(&record_path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(errors::io_failure("deleting an object", &e)),
        })
        .await?;
        let removed = index.bucket_mut(bucket)?.objects.remove(key);
        let unused = index.unnamed_blobs(bucket, blobs_of(removed));
        drop(index);
        self.delete_blobs(bucket, unused).await;
        Ok(())
    }

    /// A new upload id whose first 16 hex digits are the initiation time, strictly
    /// increasing, so ids of one key sort in initiation order.
    fn new_upload_id(&self, now_ms: u64) -> String {
        let candidate = now_ms.saturating_mul(1000);
        let mut previous = self.last_upload_stamp.load(Ordering::SeqCst);
        loop {
            let next = candidate.max(previous + 1);
            match self.last_upload_stamp.compare_exchange(
                previous,
                next,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return format!("{next:016X}{}", random_hex(8)),
                Err(actual) => previous = actual,
            }
        }
    }

    pub async fn initiate(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        attributes: ObjectAttributes,
        forbid_overwrite: bool,
    ) -> Result<UploadMeta, ServiceError> {
        let mut index = self.index.lock().await;
        let contents = index.bucket(bucket)?;
        if forbid_overwrite && contents.objects.contains_key(key) {
            return Err(errors::file_already_exists(key, false));
        }
        let now = self.clock.now_ms();
        let upload = UploadMeta {
            format_version: FORMAT_VERSION,
            upload_id: self.new_upload_id(now),
            key: key.to_owned(),
            initiated_ms: now,
            attributes,
        };
        let dir = self.upload_dir(bucket, &upload.upload_id);
        let record = upload.clone();
        let store = self.clone();
        blocking(move || {
            durable::create_dir_all(&dir)
                .map_err(|e| errors::io_failure("creating an upload", &e))?;
            store.write_record(&dir.join("upload.json"), &record)
        })
        .await?;
        index
            .bucket_mut(bucket)?
            .uploads
            .insert((key.to_owned(), upload.upload_id.clone()));
        index.uploads.insert(
            upload.upload_id.clone(),
            UploadEntry {
                bucket: bucket.to_owned(),
                meta: upload.clone(),
                parts: BTreeMap::new(),
            },
        );
        Ok(upload)
    }

    /// Checks that an upload exists before its part's body is received.
    pub async fn check_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), ServiceError> {
        self.index
            .lock()
            .await
            .upload(bucket, key, upload_id)
            .map(|_| ())
    }

    /// Stores (or replaces) a part whose bytes are in `body`.
    pub async fn put_part(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        upload_id: &str,
        mut part: PartMeta,
        body: TempFile,
    ) -> Result<PartMeta, ServiceError> {
        let mut index = self.index.lock().await;
        index.upload(bucket, key, upload_id)?;
        part.blob = new_blob_id();
        let blob_path = self.blob_path(bucket, &part.blob);
        let record_path = self
            .upload_dir(bucket, upload_id)
            .join(part_file_name(part.part_number));
        let record = part.clone();
        let store = self.clone();
        blocking(move || store.store_blob_then_record(body, &blob_path, &record_path, &record))
            .await?;
        let replaced = index
            .uploads
            .get_mut(upload_id)
            .and_then(|upload| upload.parts.insert(part.part_number, part.clone()));
        let unused = index.unnamed_blobs(bucket, replaced.map(|old| old.blob));
        drop(index);
        self.delete_blobs(bucket, unused).await;
        Ok(part)
    }

    /// Completes an upload with the parts the body names (all parts when `requested` is
    /// `None`), writing the object's record and dropping the upload.
    /// Completes an upload. The work runs in its own task: a client that disconnects
    /// mid-request must not cancel it between the disk change and the index update.
    pub async fn complete(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        upload_id: &str,
        requested: Option<&[CompletePart]>,
        forbid_overwrite: bool,
    ) -> Result<ObjectMeta, ServiceError> {
        let store = self.clone();
        let (bucket, key, upload_id) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        let requested = requested.map(<[CompletePart]>::to_vec);
        run_to_completion(async move {
            store
                .complete_now(
                    &bucket,
                    &key,
                    &upload_id,
                    requested.as_deref(),
                    forbid_overwrite,
                )
                .await
        })
        .await
    }

    async fn complete_now(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        upload_id: &str,
        requested: Option<&[CompletePart]>,
        forbid_overwrite: bool,
    ) -> Result<ObjectMeta, ServiceError> {
        let mut index = self.index.lock().await;
        let upload = index.upload(bucket, key, upload_id)?.clone();
        if forbid_overwrite && index.bucket(bucket)?.objects.contains_key(key) {
            return Err(errors::file_already_exists(key, true));
        }
        let chosen = completion::select_parts(&upload.parts, requested)?;
        let object = completion::object_from_parts(&upload.meta, &chosen, self.clock.now_ms());
        let record_path = self.object_record_path(bucket, key);
        let upload_dir = self.upload_dir(bucket, upload_id);
        let blobs_dir = self.bucket_dir(bucket).join("blobs");
        let record = object.clone();
        let store = self.clone();
        blocking(move || {
            // The object's CRC-64 and size come from the part records: they are only
            // answered if the bytes they describe are there.
            for part in &chosen {
                if let Err(why) = check_blob(&blobs_dir, &part.blob, part.size) {
                    tracing::error!("part {} cannot be completed: {why}", part.part_number);
                    return Err(errors::invalid_part(
                        part.part_number,
                        &part.quoted_etag(),
                        "the part's bytes are missing or short on the server",
                    ));
                }
            }
            store.write_record(&record_path, &record)?;
            store.reached(CrashPoint::ObjectRecordWritten)?;
            // From here the upload no longer exists, even if the clean-up below is cut
            // short; should a power cut undo the removal, start-up finishes it.
            store.remove_upload_record(&upload_dir, "closing an upload")
        })
        .await?;
        index.uploads.remove(upload_id);
        let contents = index.bucket_mut(bucket)?;
        contents
            .uploads
            .remove(&(key.to_owned(), upload_id.to_owned()));
        let replaced = contents.objects.insert(key.to_owned(), object.clone());
        let candidates = upload.parts.into_values().map(|p| p.blob);
        let unused = index.unnamed_blobs(bucket, candidates.chain(blobs_of(replaced)));
        drop(index);
        self.clean_up_later(bucket, unused, upload_id);
        Ok(object)
    }

    /// Aborts an upload, in its own task for the same reason as [`Store::complete`].
    pub async fn abort(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), ServiceError> {
        let store = self.clone();
        let (bucket, key, upload_id) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        run_to_completion(async move { store.abort_now(&bucket, &key, &upload_id).await }).await
    }

    async fn abort_now(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), ServiceError> {
        let mut index = self.index.lock().await;
        index.upload(bucket, key, upload_id)?;
        let upload_dir = self.upload_dir(bucket, upload_id);
        let store = self.clone();
        blocking(move || store.remove_upload_record(&upload_dir, "aborting an upload")).await?;
        let removed = index.uploads.remove(upload_id);
        index
            .bucket_mut(bucket)?
            .uploads
            .remove(&(key.to_owned(), upload_id.to_owned()));
        let unused = index.unnamed_blobs(
            bucket,
            removed
                .into_iter()
                .flat_map(|upload| upload.parts.into_values())
                .map(|p| p.blob),
        );
        drop(index);
        self.clean_up_later(bucket, unused, upload_id);
        Ok(())
    }

    /// Removes `upload.json`, which ends the upload; its folder goes later.
    fn remove_upload_record(&self, upload_dir: &Path, action: &str) -> Result<(), ServiceError> {
        std::fs::remove_file(upload_dir.join("upload.json"))
            .map_err(|e| errors::io_failure(action, &e))?;
        if let Err(e) = durable::sync_dir(upload_dir) {
            tracing::warn!("{action}: flushing {}: {e}", upload_dir.display());
        }
        self.reached(CrashPoint::UploadRecordRemoved)
    }

    /// Writes a JSON record durably (see [`crate::durable`]).
    fn write_record<T: Serialize>(&self, path: &Path, record: &T) -> Result<(), ServiceError> {
        let bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| errors::internal_error(&format!("encoding a record: {e}")))?;
        durable::write_file(path, &bytes, None)
            .map_err(|e| errors::io_failure("writing a record", &e))
    }

    /// Deletes blobs nobody refers to any more; failures only leave garbage for the
    /// next start's sweep.
    async fn delete_blobs(&self, bucket: &str, blobs: impl IntoIterator<Item = String>) {
        let paths: Vec<PathBuf> = blobs
            .into_iter()
            .map(|blob| self.blob_path(bucket, &blob))
            .collect();
        if paths.is_empty() {
            return;
        }
        let _ = blocking(move || {
            for path in paths {
                let _ = std::fs::remove_file(path);
            }
            Ok(())
        })
        .await;
    }

    /// Deletes a finished upload's directory and the blobs nobody refers to any more,
    /// after the answer has gone out: with thousands of parts this takes a while, and the
    /// upload no longer exists once its `upload.json` is gone. Whatever a crash leaves
    /// behind is swept at the next start.
    fn clean_up_later(&self, bucket: &str, blobs: Vec<String>, upload_id: &str) {
        let paths: Vec<PathBuf> = blobs
            .iter()
            .map(|blob| self.blob_path(bucket, blob))
            .collect();
        let dir = self.upload_dir(bucket, upload_id);
        tokio::task::spawn_blocking(move || {
            for path in paths {
                let _ = std::fs::remove_file(path);
            }
            let _ = std::fs::remove_dir_all(dir);
        });
    }

    /// The bucket's lifecycle rules as stored (`None`: it has none).
    pub async fn lifecycle(&self, bucket: &str) -> Result<Option<String>, ServiceError> {
        let index = self.index.lock().await;
        Ok(index
            .bucket(bucket)?
            .lifecycle
            .as_ref()
            .map(|(record, _)| record.xml.clone()))
    }

    /// Replaces the bucket's lifecycle rules, durably.
    pub async fn put_lifecycle(
        self: &Arc<Self>,
        bucket: &str,
        config: LifecycleConfiguration,
    ) -> Result<(), ServiceError> {
        let mut index = self.index.lock().await;
        index.bucket(bucket)?;
        let record = LifecycleRecord {
            format_version: FORMAT_VERSION,
            xml: config.to_xml(),
        };
        let path = self.bucket_dir(bucket).join(LIFECYCLE_FILE);
        let store = self.clone();
        let written = record.clone();
        blocking(move || store.write_record(&path, &written)).await?;
        index.bucket_mut(bucket)?.lifecycle = Some((record, config));
        Ok(())
    }

    /// Removes the bucket's lifecycle rules; a bucket without any is left as it is.
    pub async fn delete_lifecycle(self: &Arc<Self>, bucket: &str) -> Result<(), ServiceError> {
        let mut index = self.index.lock().await;
        if index.bucket(bucket)?.lifecycle.is_none() {
            return Ok(());
        }
        let dir = self.bucket_dir(bucket);
        blocking(move || {
            std::fs::remove_file(dir.join(LIFECYCLE_FILE))
                .map_err(|e| errors::io_failure("deleting lifecycle rules", &e))?;
            if let Err(e) = durable::sync_dir(&dir) {
                tracing::warn!("deleting lifecycle rules: flushing {}: {e}", dir.display());
            }
            Ok(())
        })
        .await?;
        index.bucket_mut(bucket)?.lifecycle = None;
        Ok(())
    }

    /// Aborts every upload an enabled rule's `AbortMultipartUpload` says is due, by the
    /// store's clock. Returns how many were aborted.
    pub async fn apply_lifecycle(self: &Arc<Self>) -> usize {
        let now_ms = self.clock.now_ms();
        let due: Vec<(String, String, String)> = {
            let index = self.index.lock().await;
            index
                .uploads
                .iter()
                .filter(|(_, entry)| {
                    index
                        .buckets
                        .get(&entry.bucket)
                        .and_then(|contents| contents.lifecycle.as_ref())
                        .is_some_and(|(_, config)| {
                            config.rules.iter().any(|rule| {
                                rule.aborts_upload(&entry.meta.key, entry.meta.initiated_ms, now_ms)
                            })
                        })
                })
                .map(|(id, entry)| (entry.bucket.clone(), entry.meta.key.clone(), id.clone()))
                .collect()
        };
        let mut aborted = 0;
        for (bucket, key, upload_id) in due {
            match self.abort(&bucket, &key, &upload_id).await {
                Ok(()) => {
                    tracing::info!("lifecycle rule aborted upload {upload_id} of {bucket}/{key}");
                    aborted += 1;
                }
                Err(e) => tracing::warn!("lifecycle: aborting upload {upload_id}: {}", e.code),
            }
        }
        aborted
    }
}

/// Reads one bucket's records at start, setting aside what cannot be used and finishing
/// what a crash cut short.
struct BucketLoader<'a> {
    root: &'a Path,
    bucket: &'a str,
    dir: &'a Path,
    /// Whether anything was set aside (or could not be): the bucket's blobs are then kept.
    set_aside_any: bool,
}

impl BucketLoader<'_> {
    /// Objects into the bucket's index, uploads into the global upload map; also whether
    /// anything was set aside.
    fn load(mut self, uploads: &mut HashMap<String, UploadEntry>) -> (BucketIndex, bool) {
        let blobs_dir = self.dir.join("blobs");
        let mut index = BucketIndex {
            lifecycle: self.load_lifecycle(),
            ..BucketIndex::default()
        };
        for path in child_entries(&self.dir.join("objects")) {
            let name = file_name_of(&path);
            if durable::is_temp_name(name) {
                remove_leftover(&path);
                continue;
            }
            match read_record(&path, |o: &ObjectMeta| check_object(o, name, &blobs_dir)) {
                Ok(object) => {
                    index.objects.insert(object.key.clone(), object);
                }
                Err(why) => self.set_aside(&path, &why),
            }
        }
        let named_by_objects: HashSet<&str> = index
            .objects
            .values()
            .flat_map(|o| o.segments.iter().map(|s| s.blob.as_str()))
            .collect();
        let mut loaded = Vec::new();
        for upload_dir in child_entries(&self.dir.join("uploads")) {
            let Some(entry) = self.load_upload(&upload_dir, &blobs_dir) else {
                continue;
            };
            if entry
                .parts
                .values()
                .any(|p| named_by_objects.contains(p.blob.as_str()))
            {
                // Complete wrote the object's record and stopped before removing the
                // upload: finish it. The object keeps its blobs; the rest is swept.
                tracing::info!(
                    "finishing the completion of upload {} of {:?}",
                    entry.meta.upload_id,
                    entry.meta.key
                );
                finish_upload_removal(&upload_dir);
                continue;
            }
            loaded.push(entry);
        }
        for entry in loaded {
            index
                .uploads
                .insert((entry.meta.key.clone(), entry.meta.upload_id.clone()));
            uploads.insert(entry.meta.upload_id.clone(), entry);
        }
        (index, self.set_aside_any)
    }

    /// The bucket's lifecycle rules, if it has any and they can be read.
    fn load_lifecycle(&mut self) -> Option<(LifecycleRecord, LifecycleConfiguration)> {
        for leftover in child_entries(self.dir) {
            if durable::is_temp_name(file_name_of(&leftover)) && leftover.is_file() {
                remove_leftover(&leftover);
            }
        }
        let path = self.dir.join(LIFECYCLE_FILE);
        if let Err(e) = std::fs::symlink_metadata(&path)
            && e.kind() == std::io::ErrorKind::NotFound
        {
            return None;
        }
        let mut parsed = None;
        let read = read_record(&path, |record: &LifecycleRecord| {
            check_version(record.format_version)?;
            parsed = Some(LifecycleConfiguration::parse(record.xml.as_bytes())?);
            Ok(())
        });
        match (read, parsed) {
            (Ok(record), Some(config)) => Some((record, config)),
            (Err(why), _) => {
                self.set_aside(&path, &why);
                None
            }
            (Ok(_), None) => None,
        }
    }

    fn load_upload(&mut self, upload_dir: &Path, blobs_dir: &Path) -> Option<UploadEntry> {
        let record = upload_dir.join("upload.json");
        if let Err(e) = std::fs::symlink_metadata(&record)
            && e.kind() == std::io::ErrorKind::NotFound
        {
            // Completed or aborted before a crash finished the clean-up.
            let _ = std::fs::remove_dir_all(upload_dir);
            return None;
        }
        let dir_name = file_name_of(upload_dir);
        let meta = match read_record(&record, |u: &UploadMeta| check_upload(u, dir_name)) {
            Ok(meta) => meta,
            Err(why) => {
                self.set_aside(upload_dir, &why);
                return None;
            }
        };
        let mut parts = BTreeMap::new();
        for path in child_entries(upload_dir) {
            let name = file_name_of(&path);
            if durable::is_temp_name(name) {
                remove_leftover(&path);
                continue;
            }
            if !name.starts_with("part-") {
                continue;
            }
            match read_record(&path, |p: &PartMeta| check_part(p, name, blobs_dir)) {
                Ok(part) => {
                    parts.insert(part.part_number, part);
                }
                Err(why) => self.set_aside(&path, &why),
            }
        }
        Some(UploadEntry {
            bucket: self.bucket.to_owned(),
            meta,
            parts,
        })
    }

    /// Moves an unusable record (or upload folder) to the bucket's quarantine, named
    /// after where it was, and says so. Never deletes it.
    fn set_aside(&mut self, path: &Path, why: &str) {
        self.set_aside_any = true;
        let dir = quarantine_dir(self.root, self.bucket);
        let relative = path.strip_prefix(self.dir).unwrap_or(path);
        let base = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("~");
        let moved = durable::create_dir_all(&dir).and_then(|()| {
            let mut aside = dir.join(&base);
            let mut copy = 1;
            while aside.exists() {
                aside = dir.join(format!("{base}.{copy}"));
                copy += 1;
            }
            durable::set_aside(path, &aside).map(|()| aside)
        });
        match moved {
            Ok(aside) => tracing::warn!(
                "set aside unreadable record {} as {}: {why}",
                path.display(),
                aside.display()
            ),
            Err(e) => tracing::warn!(
                "ignoring unreadable record {} (it could not be set aside: {e}): {why}",
                path.display()
            ),
        }
    }
}

/// Removes a temporary file a crash left; nothing names it.
fn remove_leftover(path: &Path) {
    tracing::info!("removing unfinished write {}", path.display());
    let _ = std::fs::remove_file(path);
}

/// Ends an upload whose object is already recorded: `upload.json` first, as Complete does.
fn finish_upload_removal(upload_dir: &Path) {
    match std::fs::remove_file(upload_dir.join("upload.json")) {
        Ok(()) => {
            let _ = durable::sync_dir(upload_dir);
            let _ = std::fs::remove_dir_all(upload_dir);
        }
        Err(e) => tracing::warn!(
            "could not remove the completed upload {}: {e}",
            upload_dir.display()
        ),
    }
}

/// Deletes blobs of `bucket` that no record names, unless the bucket has records set
/// aside (now or at an earlier start), which may name them.
fn sweep_blobs(root: &Path, bucket: &str, index: &Index, set_aside_now: bool) {
    let quarantine = quarantine_dir(root, bucket);
    if set_aside_now || !child_entries(&quarantine).is_empty() {
        tracing::warn!(
            "keeping every blob of bucket {bucket}: records set aside in {} may name them",
            quarantine.display()
        );
        return;
    }
    let named = index.named_blobs(bucket);
    let blobs_dir = root.join("buckets").join(bucket).join("blobs");
    for path in child_entries(&blobs_dir) {
        if !named.contains(file_name_of(&path)) {
            tracing::info!("removing unreferenced blob {}", path.display());
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Runs `work` on its own task and waits for it, so dropping the caller (a client that
/// went away) cannot stop it half-way.
async fn run_to_completion<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, ServiceError>> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::spawn(work)
        .await
        .map_err(|e| errors::internal_error(&format!("store task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn temp_with(store: &Store, bytes: &[u8]) -> TempFile {
        let file = store.new_temp_file();
        tokio::fs::write(file.path(), bytes).await.unwrap();
        file
    }

    fn object(key: &str, size: u64) -> ObjectMeta {
        ObjectMeta::for_test(key, size)
    }

    /// A store over a fresh folder with the bucket `demo` and one multipart upload to
    /// `key` (the folder, the store, the upload id).
    async fn store_with_upload(key: &str) -> (tempfile::TempDir, Arc<Store>, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), &["demo".to_owned()]).unwrap());
        let upload = store
            .initiate("demo", key, ObjectAttributes::default(), false)
            .await
            .unwrap();
        (dir, store, upload.upload_id)
    }

    fn part(number: u32, size: u64) -> PartMeta {
        PartMeta {
            format_version: FORMAT_VERSION,
            part_number: number,
            blob: String::new(),
            size,
            md5_hex: format!("{number:032X}"),
            crc64: 0,
            last_modified_ms: 0,
        }
    }

    #[tokio::test]
    async fn reopening_keeps_data_and_clears_crash_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let buckets = vec!["demo".to_owned()];
        let store = Arc::new(Store::open(dir.path(), &buckets).unwrap());
        let body = temp_with(&store, b"hello").await;
        store
            .put_object("demo", object("kept", 5), body, false)
            .await
            .unwrap();
        let upload = store
            .initiate("demo", "big", ObjectAttributes::default(), false)
            .await
            .unwrap();
        let body = temp_with(&store, b"part").await;
        store
            .put_part("demo", "big", &upload.upload_id, part(1, 4), body)
            .await
            .unwrap();
        drop(store);

        let bucket = dir.path().join("buckets/demo");
        std::fs::write(bucket.join("blobs/STRAY"), b"orphan").unwrap();
        std::fs::write(dir.path().join("tmp/body-half"), b"half").unwrap();
        std::fs::create_dir_all(bucket.join("uploads/GHOST")).unwrap();
        std::fs::write(bucket.join("uploads/GHOST/part-00001.json"), b"{}").unwrap();
        std::fs::write(bucket.join("objects/.x.json.tmp-1-2-3"), b"{ half").unwrap();

        let store = Arc::new(Store::open(dir.path(), &buckets).unwrap());
        assert!(!bucket.join("blobs/STRAY").exists());
        assert!(!bucket.join("uploads/GHOST").exists());
        assert!(!bucket.join("objects/.x.json.tmp-1-2-3").exists());
        assert!(!dir.path().join("quarantine").exists());
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
        let kept = store.object("demo", "kept").await.unwrap();
        let blob = store.blob_path("demo", &kept.segments[0].blob);
        assert_eq!(std::fs::read(blob).unwrap(), b"hello");
        let parts = store
            .read(|index| {
                index
                    .upload("demo", "big", &upload.upload_id)
                    .map(|u| u.parts.len())
            })
            .await
            .unwrap();
        assert_eq!(parts, 1);
    }

    #[tokio::test]
    async fn a_complete_dropped_by_its_caller_still_finishes_consistently() {
        let (_dir, store, upload_id) = store_with_upload("k").await;
        let id = upload_id.as_str();
        let body = temp_with(&store, b"only part").await;
        store
            .put_part("demo", "k", id, part(1, 9), body)
            .await
            .unwrap();
        // The HTTP layer drops a handler's future when its client goes away; poll the
        // Complete once, then drop it, as a killed client would.
        {
            let complete = store.complete("demo", "k", id, None, false);
            let mut complete = std::pin::pin!(complete);
            let _ = futures_util::poll!(complete.as_mut());
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while store.object("demo", "k").await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the object never appeared after its Complete was dropped"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Index and disk agree: the upload is gone, not half-gone (which answered 500).
        assert_eq!(
            store.abort("demo", "k", id).await.unwrap_err().code,
            "NoSuchUpload"
        );
    }

    #[tokio::test]
    async fn complete_reuses_part_blobs_and_removes_the_rest() {
        let (dir, store, upload_id) = store_with_upload("k").await;
        let id = upload_id.as_str();
        let mut stored = Vec::new();
        for number in 1..=3 {
            let body = temp_with(&store, &vec![number as u8; 102_400]).await;
            let part = store
                .put_part("demo", "k", id, part(number, 102_400), body)
                .await
                .unwrap();
            stored.push(part);
        }
        // Replacing part 3 deletes the blob it replaced.
        let body = temp_with(&store, b"last").await;
        let last = store
            .put_part("demo", "k", id, part(3, 4), body)
            .await
            .unwrap();
        assert!(!store.blob_path("demo", &stored[2].blob).exists());

        let requested = [&stored[0], &last].map(|p| CompletePart {
            part_number: p.part_number,
            etag: p.quoted_etag(),
        });
        let object = store
            .complete("demo", "k", id, Some(&requested), false)
            .await
            .unwrap();
        let blobs: Vec<&str> = object.segments.iter().map(|s| s.blob.as_str()).collect();
        assert_eq!(blobs, [stored[0].blob.as_str(), last.blob.as_str()]);
        assert_eq!(object.size, 102_404);
        // Part 2 was left out of the object: its blob goes, as does the upload.
        let left_out = store.blob_path("demo", &stored[1].blob);
        let upload_dir = dir.path().join("buckets/demo/uploads").join(id);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while left_out.exists() || upload_dir.exists() {
            assert!(std::time::Instant::now() < deadline, "clean-up never ran");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(store.blob_path("demo", &last.blob).exists());
        assert_eq!(
            store.check_upload("demo", "k", id).await.unwrap_err().code,
            "NoSuchUpload"
        );
    }

    async fn put(store: &Arc<Store>, key: &str, bytes: &[u8]) -> ObjectMeta {
        let body = temp_with(store, bytes).await;
        let size = bytes.len() as u64;
        store
            .put_object("demo", object(key, size), body, false)
            .await
            .unwrap()
    }

    fn quarantined(root: &Path) -> Vec<String> {
        let mut names: Vec<String> = child_entries(&quarantine_dir(root, "demo"))
            .iter()
            .map(|p| file_name_of(p).to_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn unreadable_records_are_set_aside_and_their_blobs_kept() {
        let dir = tempfile::tempdir().unwrap();
        let buckets = vec!["demo".to_owned()];
        let store = Arc::new(Store::open(dir.path(), &buckets).unwrap());
        let object = put(&store, "precious", b"precious").await;
        let upload = store
            .initiate("demo", "big", ObjectAttributes::default(), false)
            .await
            .unwrap();
        let body = temp_with(&store, b"part").await;
        let part = store
            .put_part("demo", "big", &upload.upload_id, part(1, 4), body)
            .await
            .unwrap();
        drop(store);

        let bucket = dir.path().join("buckets/demo");
        let object_record = bucket.join("objects").join(key_file_name("precious"));
        std::fs::write(&object_record, b"{ torn").unwrap();
        let upload_dir = bucket.join("uploads").join(&upload.upload_id);
        std::fs::write(upload_dir.join("upload.json"), b"").unwrap();
        std::fs::write(bucket.join("blobs/STRAY"), b"unknown").unwrap();

        for _ in 0..2 {
            // The second start finds nothing unreadable in place, but the quarantine still
            // names what may be needed: nothing is swept then either.
            let store = Store::open(dir.path(), &buckets).unwrap();
            assert_eq!(
                store.object("demo", "precious").await.unwrap_err().code,
                "NoSuchKey"
            );
            assert!(store.blob_path("demo", &object.segments[0].blob).exists());
            assert!(store.blob_path("demo", &part.blob).exists());
            assert!(bucket.join("blobs/STRAY").exists());
        }
        let object_aside = format!("objects~{}", key_file_name("precious"));
        let upload_aside = format!("uploads~{}", upload.upload_id);
        assert_eq!(
            quarantined(dir.path()),
            [object_aside.clone(), upload_aside.clone()]
        );
        let aside = quarantine_dir(dir.path(), "demo");
        assert_eq!(std::fs::read(aside.join(object_aside)).unwrap(), b"{ torn");
        assert!(aside.join(upload_aside).join("part-00001.json").exists());
    }

    #[tokio::test]
    async fn a_record_naming_missing_or_short_bytes_is_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let buckets = vec!["demo".to_owned()];
        let store = Arc::new(Store::open(dir.path(), &buckets).unwrap());
        let object = put(&store, "short", b"twelve bytes").await;
        let blob = store.blob_path("demo", &object.segments[0].blob);
        drop(store);
        std::fs::write(&blob, b"").unwrap();

        let store = Store::open(dir.path(), &buckets).unwrap();
        assert_eq!(
            store.object("demo", "short").await.unwrap_err().code,
            "NoSuchKey"
        );
        assert_eq!(quarantined(dir.path()).len(), 1);
    }

    #[tokio::test]
    async fn a_tampered_upload_id_cannot_reach_outside_the_data_dir() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::create_dir_all(&victim).unwrap();
        std::fs::write(victim.join("upload.json"), b"keep me").unwrap();
        let dir = outside.path().join("data");
        let buckets = vec!["demo".to_owned()];
        let store = Arc::new(Store::open(&dir, &buckets).unwrap());
        let upload = store
            .initiate("demo", "k", ObjectAttributes::default(), false)
            .await
            .unwrap();
        drop(store);
        let record = dir
            .join("buckets/demo/uploads")
            .join(&upload.upload_id)
            .join("upload.json");
        let text = std::fs::read_to_string(&record).unwrap();
        let tampered = "../../../../victim";
        std::fs::write(&record, text.replace(&upload.upload_id, tampered)).unwrap();

        let store = Arc::new(Store::open(&dir, &buckets).unwrap());
        let refused = store.abort("demo", "k", tampered).await.unwrap_err();
        assert_eq!(refused.code, "NoSuchUpload");
        assert_eq!(
            std::fs::read(victim.join("upload.json")).unwrap(),
            b"keep me"
        );
        assert_eq!(quarantined(&dir), [format!("uploads~{}", upload.upload_id)]);
    }

    #[tokio::test]
    async fn a_blob_stored_without_its_record_is_swept_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let buckets = vec!["demo".to_owned()];
        let store = Arc::new(Store::open(dir.path(), &buckets).unwrap());
        store.stop_at(CrashPoint::BlobInPlace);
        let body = temp_with(&store, b"lost").await;
        assert!(
            store
                .put_object("demo", object("lost", 4), body, false)
                .await
                .is_err()
        );
        drop(store);
        let blobs = dir.path().join("buckets/demo/blobs");
        assert_eq!(child_entries(&blobs).len(), 1);

        let store = Store::open(dir.path(), &buckets).unwrap();
        assert!(child_entries(&blobs).is_empty());
        assert!(store.object("demo", "lost").await.is_err());
    }
}
