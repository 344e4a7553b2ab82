//! The disk store behind `ossup serve`, with an in-memory index of everything on disk.
//!
//! Layout under the data directory:
//!
//! ```text
//! tmp/                                       bodies and records being written; emptied at start
//! buckets/<bucket>/blobs/<id>                object and part bytes, never changed once in place
//! buckets/<bucket>/objects/<sha256(key)>.json   ObjectMeta: attributes and the blob list
//! buckets/<bucket>/uploads/<upload id>/upload.json       UploadMeta
//! buckets/<bucket>/uploads/<upload id>/part-NNNNN.json   PartMeta
//! ```
//!
//! Every file is written under `tmp/` and renamed into place (records are fsynced first),
//! so a crash leaves either the old file or the new one, never half of one. A blob that
//! no record names (a crash between the two renames) is deleted at the next start.
//! Complete copies no bytes: the object's record lists the part blobs in order.
//!
//! All changes go through one async lock around the index, held while the records are
//! written; request bodies are streamed to `tmp/` before that, outside the lock.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::clock::now_ms;
use super::completion;
use super::errors::{self, ServerError};
use super::listing::UploadKey;
use super::meta::{FORMAT_VERSION, ObjectAttributes, ObjectMeta, PartMeta, UploadMeta};
use crate::protocol::ServiceError;
use crate::protocol::object_key::validate_bucket_name;
use crate::protocol::xml::CompletePart;

/// What the index knows about one bucket.
#[derive(Debug, Default)]
pub struct BucketIndex {
    pub objects: BTreeMap<String, ObjectMeta>,
    /// Uploads in progress, by key then upload id (which sorts by initiation).
    pub uploads: BTreeSet<UploadKey>,
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

/// The disk store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    index: Mutex<Index>,
    /// Last time stamp handed out in an upload id, so ids strictly increase.
    last_upload_stamp: AtomicU64,
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

fn read_record<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let read = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice::<T>(&bytes).map_err(|e| e.to_string()));
    match read {
        Ok(record) => Some(record),
        Err(error) => {
            tracing::warn!("skipping unreadable record {}: {error}", path.display());
            None
        }
    }
}

fn child_entries(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    }
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
        for bucket_dir in child_entries(&buckets_dir) {
            let Some(name) = bucket_dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if validate_bucket_name(name).is_err() || !bucket_dir.is_dir() {
                continue;
            }
            let name = name.to_owned();
            let bucket_index = load_bucket(&name, &bucket_dir, &mut index.uploads);
            sweep_blobs(&name, &bucket_dir, &bucket_index, &index.uploads);
            index.buckets.insert(name, bucket_index);
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
            std::fs::create_dir_all(&dir).map_err(io_error("cannot create", &dir))?;
        }
        Ok(())
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
        let blob = random_hex(16);
        object.segments = vec![super::meta::Segment {
            blob: blob.clone(),
            size: object.size,
        }];
        let blob_path = self.blob_path(bucket, &blob);
        let record_path = self.object_record_path(bucket, &object.key);
        let record = object.clone();
        let store = self.clone();
        blocking(move || {
            let from = body.disarm();
            std::fs::rename(&from, &blob_path).map_err(|e| {
                let _ = std::fs::remove_file(&from);
                errors::io_failure("storing an object", &e)
            })?;
            store.write_record(&record_path, &record)
        })
        .await?;
        let replaced = index
            .bucket_mut(bucket)?
            .objects
            .insert(object.key.clone(), object.clone());
        drop(index);
        if let Some(old) = replaced {
            self.delete_blobs(bucket, old.segments.iter().map(|s| s.blob.clone()))
                .await;
        }
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
        drop(index);
        if let Some(old) = removed {
            self.delete_blobs(bucket, old.segments.iter().map(|s| s.blob.clone()))
                .await;
        }
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
        let now = now_ms();
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
            std::fs::create_dir_all(&dir)
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
        part.blob = random_hex(16);
        let blob_path = self.blob_path(bucket, &part.blob);
        let record_path = self
            .upload_dir(bucket, upload_id)
            .join(part_file_name(part.part_number));
        let record = part.clone();
        let store = self.clone();
        blocking(move || {
            let from = body.disarm();
            std::fs::rename(&from, &blob_path).map_err(|e| {
                let _ = std::fs::remove_file(&from);
                errors::io_failure("storing a part", &e)
            })?;
            store.write_record(&record_path, &record)
        })
        .await?;
        let replaced = index
            .uploads
            .get_mut(upload_id)
            .and_then(|upload| upload.parts.insert(part.part_number, part.clone()));
        drop(index);
        if let Some(old) = replaced {
            self.delete_blobs(bucket, [old.blob]).await;
        }
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
        let object = completion::object_from_parts(&upload.meta, &chosen, now_ms());
        let record_path = self.object_record_path(bucket, key);
        let upload_record = self.upload_dir(bucket, upload_id).join("upload.json");
        let record = object.clone();
        let store = self.clone();
        blocking(move || {
            store.write_record(&record_path, &record)?;
            // From here the upload no longer exists, even if the clean-up below is cut short.
            std::fs::remove_file(&upload_record)
                .map_err(|e| errors::io_failure("closing an upload", &e))
        })
        .await?;
        index.uploads.remove(upload_id);
        let contents = index.bucket_mut(bucket)?;
        contents
            .uploads
            .remove(&(key.to_owned(), upload_id.to_owned()));
        let replaced = contents.objects.insert(key.to_owned(), object.clone());
        drop(index);

        let kept: HashSet<&str> = chosen.iter().map(|p| p.blob.as_str()).collect();
        let mut unused: Vec<String> = upload
            .parts
            .values()
            .filter(|p| !kept.contains(p.blob.as_str()))
            .map(|p| p.blob.clone())
            .collect();
        if let Some(old) = replaced {
            unused.extend(old.segments.into_iter().map(|s| s.blob));
        }
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
        let upload_record = self.upload_dir(bucket, upload_id).join("upload.json");
        blocking(move || {
            std::fs::remove_file(&upload_record)
                .map_err(|e| errors::io_failure("aborting an upload", &e))
        })
        .await?;
        let removed = index.uploads.remove(upload_id);
        index
            .bucket_mut(bucket)?
            .uploads
            .remove(&(key.to_owned(), upload_id.to_owned()));
        drop(index);
        let blobs = removed
            .map(|upload| upload.parts.into_values().map(|p| p.blob).collect())
            .unwrap_or_default();
        self.clean_up_later(bucket, blobs, upload_id);
        Ok(())
    }

    /// Writes a JSON record: temp file, fsync, rename.
    fn write_record<T: Serialize>(&self, path: &Path, record: &T) -> Result<(), ServiceError> {
        let bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| errors::internal_error(&format!("encoding a record: {e}")))?;
        let temp = self.new_temp_file();
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(temp.path())?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(temp.path(), path)
        };
        write().map_err(|e| errors::io_failure("writing a record", &e))?;
        temp.disarm();
        Ok(())
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
}

/// Reads one bucket's objects and uploads; uploads go into the global upload map.
fn load_bucket(
    bucket: &str,
    dir: &Path,
    uploads: &mut HashMap<String, UploadEntry>,
) -> BucketIndex {
    let mut index = BucketIndex::default();
    for path in child_entries(&dir.join("objects")) {
        if let Some(object) = read_record::<ObjectMeta>(&path) {
            index.objects.insert(object.key.clone(), object);
        }
    }
    for upload_dir in child_entries(&dir.join("uploads")) {
        let Some(meta) = read_record::<UploadMeta>(&upload_dir.join("upload.json")) else {
            // Completed or aborted before a crash finished the clean-up.
            let _ = std::fs::remove_dir_all(&upload_dir);
            continue;
        };
        let mut parts = BTreeMap::new();
        for path in child_entries(&upload_dir) {
            let is_part = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("part-"));
            if is_part && let Some(part) = read_record::<PartMeta>(&path) {
                parts.insert(part.part_number, part);
            }
        }
        index
            .uploads
            .insert((meta.key.clone(), meta.upload_id.clone()));
        uploads.insert(
            meta.upload_id.clone(),
            UploadEntry {
                bucket: bucket.to_owned(),
                meta,
                parts,
            },
        );
    }
    index
}

/// Deletes blobs of `bucket` that no object or part names.
fn sweep_blobs(
    bucket: &str,
    dir: &Path,
    index: &BucketIndex,
    uploads: &HashMap<String, UploadEntry>,
) {
    let mut used: HashSet<&str> = index
        .objects
        .values()
        .flat_map(|o| o.segments.iter().map(|s| s.blob.as_str()))
        .collect();
    used.extend(
        uploads
            .values()
            .filter(|u| u.bucket == bucket)
            .flat_map(|u| u.parts.values().map(|p| p.blob.as_str())),
    );
    for path in child_entries(&dir.join("blobs")) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !used.contains(name) {
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
    use crate::server::meta::{ObjectType, Segment};

    async fn temp_with(store: &Store, bytes: &[u8]) -> TempFile {
        let file = store.new_temp_file();
        tokio::fs::write(file.path(), bytes).await.unwrap();
        file
    }

    fn object(key: &str, size: u64) -> ObjectMeta {
        ObjectMeta {
            format_version: FORMAT_VERSION,
            key: key.to_owned(),
            size,
            etag: "E".into(),
            crc64: 0,
            content_md5: None,
            last_modified_ms: 0,
            object_type: ObjectType::Normal,
            attributes: ObjectAttributes::default(),
            segments: Vec::<Segment>::new(),
        }
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
        std::fs::write(bucket.join("objects/broken.json"), b"{ not json").unwrap();

        let store = Arc::new(Store::open(dir.path(), &buckets).unwrap());
        assert!(!bucket.join("blobs/STRAY").exists());
        assert!(!bucket.join("uploads/GHOST").exists());
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
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), &["demo".to_owned()]).unwrap());
        let upload = store
            .initiate("demo", "k", ObjectAttributes::default(), false)
            .await
            .unwrap();
        let id = upload.upload_id.as_str();
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
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), &["demo".to_owned()]).unwrap());
        let upload = store
            .initiate("demo", "k", ObjectAttributes::default(), false)
            .await
            .unwrap();
        let id = upload.upload_id.as_str();
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
}
