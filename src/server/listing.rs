//! Paging for ListObjects, ListMultipartUploads and ListParts, without I/O.
//!
//! Each function walks a sorted collection from its marker, folds keys into common
//! prefixes when a delimiter is given, stops at the page size and says where the next
//! page starts.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::clock::iso8601_ms;
use super::meta::{ObjectMeta, PartMeta};
use crate::protocol::xml::{
    CommonPrefix, ListBucketResult, ListMultipartUploadsResult, ListPartsResult, ObjectSummary,
    PartSummary, UploadSummary, url_encode_field,
};

/// Query of a listing with keys: ListObjects or ListMultipartUploads.
#[derive(Debug, Clone, Default)]
pub struct KeyListing {
    pub prefix: String,
    pub delimiter: String,
    /// `marker` for ListObjects, `key-marker` for ListMultipartUploads.
    pub key_marker: String,
    /// `upload-id-marker`; only used with a key marker.
    pub upload_id_marker: String,
    pub max: u32,
    pub url_encoded: bool,
}

impl KeyListing {
    fn encode(&self, value: &str) -> String {
        if self.url_encoded {
            url_encode_field(value)
        } else {
            value.to_owned()
        }
    }

    fn encoding_type(&self) -> Option<String> {
        self.url_encoded.then(|| "url".to_owned())
    }

    /// The common prefix `key` rolls up into, if the delimiter applies to it.
    fn common_prefix_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        if self.delimiter.is_empty() {
            return None;
        }
        let rest = key.get(self.prefix.len()..)?;
        rest.find(&self.delimiter)
            .map(|at| &key[..self.prefix.len() + at + self.delimiter.len()])
    }
}

/// One listed entry: a key (with its upload id for uploads) or a common prefix.
enum Entry<'a, T> {
    Item(&'a T),
    Prefix(&'a str),
}

/// Walks `(key, item)` pairs in order, applying prefix, delimiter and page size.
/// Returns the page and whether more entries follow.
fn page<'a, T: 'a>(
    listing: &KeyListing,
    items: impl Iterator<Item = (&'a str, &'a T)>,
) -> (Vec<Entry<'a, T>>, bool) {
    let mut entries = Vec::new();
    let mut last_prefix: Option<&str> = None;
    for (key, item) in items {
        if !key.starts_with(&listing.prefix) {
            if key > listing.prefix.as_str() {
                break;
            }
            continue;
        }
        let entry = match listing.common_prefix_of(key) {
            Some(prefix) => {
                // A prefix already listed, on this page or as the marker of the last one.
                if last_prefix == Some(prefix) || prefix == listing.key_marker {
                    continue;
                }
                last_prefix = Some(prefix);
                Entry::Prefix(prefix)
            }
            None => Entry::Item(item),
        };
        if entries.len() as u32 >= listing.max {
            return (entries, true);
        }
        entries.push(entry);
    }
    (entries, false)
}

/// ListObjects (GET Bucket).
pub fn list_objects(
    bucket: &str,
    objects: &BTreeMap<String, ObjectMeta>,
    listing: &KeyListing,
) -> ListBucketResult {
    let start = listing.key_marker.as_str().max(listing.prefix.as_str());
    let lower = if listing.key_marker.as_str() >= listing.prefix.as_str() {
        Bound::Excluded(start)
    } else {
        Bound::Included(start)
    };
    let items = objects
        .range::<str, _>((lower, Bound::Unbounded))
        .map(|(key, meta)| (key.as_str(), meta));
    let (entries, truncated) = page(listing, items);

    let mut result = ListBucketResult {
        encoding_type: listing.encoding_type(),
        name: bucket.to_owned(),
        prefix: listing.encode(&listing.prefix),
        marker: listing.encode(&listing.key_marker),
        max_keys: listing.max,
        delimiter: listing.encode(&listing.delimiter),
        is_truncated: truncated,
        ..ListBucketResult::default()
    };
    let mut last_key = None;
    for entry in entries {
        match entry {
            Entry::Item(meta) => {
                last_key = Some(meta.key.as_str());
                result.contents.push(ObjectSummary {
                    key: listing.encode(&meta.key),
                    last_modified: iso8601_ms(meta.last_modified_ms),
                    etag: format!("\"{}\"", meta.etag),
                    object_type: meta.object_type.as_str().to_owned(),
                    size: meta.size,
                    storage_class: meta.attributes.storage_class.clone(),
                });
            }
            Entry::Prefix(prefix) => {
                last_key = Some(prefix);
                result.common_prefixes.push(CommonPrefix {
                    prefix: listing.encode(prefix),
                });
            }
        }
    }
    if truncated {
        result.next_marker = last_key.map(|k| listing.encode(k));
    }
    result
}

/// An upload as the bucket index lists it: `(key, upload id)`, ids in initiation order.
pub type UploadKey = (String, String);

/// ListMultipartUploads, sorted by key, then initiation.
pub fn list_uploads(
    bucket: &str,
    uploads: &BTreeSet<UploadKey>,
    initiated_ms: impl Fn(&str) -> u64,
    listing: &KeyListing,
) -> ListMultipartUploadsResult {
    let lower = if listing.key_marker.is_empty() {
        Bound::Unbounded
    } else if listing.upload_id_marker.is_empty() {
        // Past every upload of the marker key: upload ids are never longer than this.
        Bound::Excluded((listing.key_marker.clone(), "\u{10FFFF}".to_owned()))
    } else {
        Bound::Excluded((listing.key_marker.clone(), listing.upload_id_marker.clone()))
    };
    let items = uploads
        .range((lower, Bound::Unbounded))
        .map(|entry| (entry.0.as_str(), entry));
    let (entries, truncated) = page(listing, items);

    let mut result = ListMultipartUploadsResult {
        encoding_type: listing.encoding_type(),
        bucket: bucket.to_owned(),
        key_marker: listing.encode(&listing.key_marker),
        upload_id_marker: listing.upload_id_marker.clone(),
        delimiter: listing.encode(&listing.delimiter),
        prefix: listing.encode(&listing.prefix),
        max_uploads: listing.max,
        is_truncated: truncated,
        ..ListMultipartUploadsResult::default()
    };
    for entry in entries {
        match entry {
            Entry::Item((key, upload_id)) => {
                result.next_key_marker = listing.encode(key);
                result.next_upload_id_marker = upload_id.clone();
                result.uploads.push(UploadSummary {
                    key: listing.encode(key),
                    upload_id: upload_id.clone(),
                    initiated: iso8601_ms(initiated_ms(upload_id)),
                });
            }
            Entry::Prefix(prefix) => {
                result.next_key_marker = listing.encode(prefix);
                result.next_upload_id_marker.clear();
                result.common_prefixes.push(CommonPrefix {
                    prefix: listing.encode(prefix),
                });
            }
        }
    }
    result
}

/// Query of ListParts.
#[derive(Debug, Clone)]
pub struct PartListing {
    pub part_number_marker: u32,
    pub max: u32,
    pub url_encoded: bool,
}

/// ListParts: parts numbered above the marker, ascending.
pub fn list_parts(
    bucket: &str,
    key: &str,
    upload_id: &str,
    storage_class: &str,
    parts: &BTreeMap<u32, PartMeta>,
    listing: &PartListing,
) -> ListPartsResult {
    let mut after_marker = parts
        .range((
            Bound::Excluded(listing.part_number_marker),
            Bound::Unbounded,
        ))
        .map(|(_, part)| part);
    let page: Vec<&PartMeta> = after_marker.by_ref().take(listing.max as usize).collect();
    let truncated = after_marker.next().is_some();
    ListPartsResult {
        encoding_type: listing.url_encoded.then(|| "url".to_owned()),
        bucket: bucket.to_owned(),
        key: if listing.url_encoded {
            url_encode_field(key)
        } else {
            key.to_owned()
        },
        upload_id: upload_id.to_owned(),
        part_number_marker: listing.part_number_marker,
        next_part_number_marker: page.last().map_or(0, |p| p.part_number),
        max_parts: listing.max,
        is_truncated: truncated,
        storage_class: Some(storage_class.to_owned()),
        parts: page
            .iter()
            .map(|part| PartSummary {
                part_number: part.part_number,
                last_modified: iso8601_ms(part.last_modified_ms),
                etag: part.quoted_etag(),
                hash_crc64ecma: Some(part.crc64),
                size: part.size,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::meta::{FORMAT_VERSION, ObjectAttributes, ObjectType};

    fn objects(keys: &[&str]) -> BTreeMap<String, ObjectMeta> {
        keys.iter()
            .map(|key| {
                let meta = ObjectMeta {
                    format_version: FORMAT_VERSION,
                    key: key.to_string(),
                    size: 1,
                    etag: "E".into(),
                    crc64: 0,
                    content_md5: None,
                    last_modified_ms: 0,
                    object_type: ObjectType::Normal,
                    attributes: ObjectAttributes::default(),
                    segments: vec![],
                };
                (key.to_string(), meta)
            })
            .collect()
    }

    fn names(result: &ListBucketResult) -> Vec<String> {
        result
            .contents
            .iter()
            .map(|o| o.key.clone())
            .chain(result.common_prefixes.iter().map(|p| p.prefix.clone()))
            .collect()
    }

    #[test]
    fn objects_page_through_with_prefixes_and_delimiter() {
        let store = objects(&["a", "b/1", "b/2", "c", "d/x/1", "e"]);
        let mut listing = KeyListing {
            delimiter: "/".into(),
            max: 2,
            ..KeyListing::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = list_objects("bkt", &store, &listing);
            seen.extend(names(&page));
            if !page.is_truncated {
                break;
            }
            listing.key_marker = page.next_marker.clone().unwrap();
        }
        seen.sort();
        assert_eq!(seen, ["a", "b/", "c", "d/", "e"]);

        let listing = KeyListing {
            prefix: "b/".into(),
            max: 10,
            ..KeyListing::default()
        };
        let page = list_objects("bkt", &store, &listing);
        assert_eq!(names(&page), ["b/1", "b/2"]);
        assert!(!page.is_truncated);
    }

    #[test]
    fn uploads_resume_inside_one_key() {
        let uploads: BTreeSet<UploadKey> = [
            ("k".to_owned(), "01".to_owned()),
            ("k".to_owned(), "02".to_owned()),
            ("k".to_owned(), "03".to_owned()),
            ("m".to_owned(), "04".to_owned()),
        ]
        .into();
        let mut listing = KeyListing {
            max: 2,
            ..KeyListing::default()
        };
        let first = list_uploads("b", &uploads, |_| 0, &listing);
        assert!(first.is_truncated);
        assert_eq!(
            (
                first.next_key_marker.as_str(),
                first.next_upload_id_marker.as_str()
            ),
            ("k", "02")
        );
        listing.key_marker = first.next_key_marker.clone();
        listing.upload_id_marker = first.next_upload_id_marker.clone();
        let second = list_uploads("b", &uploads, |_| 0, &listing);
        let ids: Vec<_> = second
            .uploads
            .iter()
            .map(|u| u.upload_id.as_str())
            .collect();
        assert_eq!(ids, ["03", "04"]);
        assert!(!second.is_truncated);

        listing.upload_id_marker.clear();
        let after_key = list_uploads("b", &uploads, |_| 0, &listing);
        assert_eq!(after_key.uploads.len(), 1);
        assert_eq!(after_key.uploads[0].key, "m");
    }

    #[test]
    fn parts_page_with_next_marker() {
        let parts: BTreeMap<u32, PartMeta> = (1..=5)
            .map(|n| {
                let part = PartMeta {
                    format_version: FORMAT_VERSION,
                    part_number: n,
                    blob: String::new(),
                    size: 1,
                    md5_hex: "AB".into(),
                    crc64: 0,
                    last_modified_ms: 0,
                };
                (n, part)
            })
            .collect();
        let listing = PartListing {
            part_number_marker: 1,
            max: 3,
            url_encoded: false,
        };
        let page = list_parts("b", "k", "u", "Standard", &parts, &listing);
        assert_eq!(
            page.parts.iter().map(|p| p.part_number).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        assert!(page.is_truncated);
        assert_eq!(page.next_part_number_marker, 4);
        let last = list_parts(
            "b",
            "k",
            "u",
            "Standard",
            &parts,
            &PartListing {
                part_number_marker: 4,
                ..listing
            },
        );
        assert!(!last.is_truncated);
        assert_eq!(last.parts.len(), 1);
    }
}
