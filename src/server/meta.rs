//! The small JSON records the store keeps next to the bytes: objects, uploads, parts.
//!
//! Every record carries a format version so a later layout can read or refuse old files.

use serde::{Deserialize, Serialize};

/// Version written into every record.
pub const FORMAT_VERSION: u32 = 1;

/// How an object came to be, as `x-oss-object-type` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectType {
    Normal,
    Multipart,
}

impl ObjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Normal => "Normal",
            ObjectType::Multipart => "Multipart",
        }
    }
}

/// One run of an object's bytes: a whole blob file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// File name under the bucket's `blobs/` directory.
    pub blob: String,
    pub size: u64,
}

/// What the client sent along with an object (PutObject) or an upload (Initiate).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ObjectAttributes {
    pub content_type: String,
    pub storage_class: String,
    /// `x-oss-meta-*` headers, names lower-cased, in the order received.
    pub user_meta: Vec<(String, String)>,
}

/// A stored object: its answers to HEAD and the blobs that hold its bytes, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub format_version: u32,
    pub key: String,
    pub size: u64,
    /// Upper-case hex without quotes; `<hex>-<part count>` for multipart objects.
    pub etag: String,
    pub crc64: u64,
    /// Base64 MD5 of the body, known for single-request objects only.
    pub content_md5: Option<String>,
    pub last_modified_ms: u64,
    pub object_type: ObjectType,
    pub attributes: ObjectAttributes,
    pub segments: Vec<Segment>,
}

#[cfg(test)]
impl ObjectMeta {
    /// An empty-bodied normal object record of `size` bytes at `key`, for unit tests.
    pub(crate) fn for_test(key: &str, size: u64) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            key: key.to_owned(),
            size,
            etag: "E".into(),
            crc64: 0,
            content_md5: None,
            last_modified_ms: 0,
            object_type: ObjectType::Normal,
            attributes: ObjectAttributes::default(),
            segments: Vec::new(),
        }
    }
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadMeta {
    pub format_version: u32,
    /// Starts with the initiation time in hex, so ids sort in initiation order.
    pub upload_id: String,
    pub key: String,
    pub initiated_ms: u64,
    pub attributes: ObjectAttributes,
}

/// One uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartMeta {
    pub format_version: u32,
    pub part_number: u32,
    pub blob: String,
    pub size: u64,
    /// Upper-case hex MD5 of the part, which is also its ETag.
    pub md5_hex: String,
    pub crc64: u64,
    pub last_modified_ms: u64,
}

impl PartMeta {
    pub fn quoted_etag(&self) -> String {
        format!("\"{}\"", self.md5_hex)
    }
}

/// A bucket's lifecycle configuration as PutBucketLifecycle gave it (each rule's XML kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRecord {
    pub format_version: u32,
    pub xml: String,
}
