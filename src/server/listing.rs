//! Paging for ListObjects, ListObjectsV2, ListMultipartUploads and ListParts, without I/O.
//!
//! Each function walks a sorted collection from its marker, folds keys into common
//! prefixes when a delimiter is given, stops at the page size and says where the next
//! page starts.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64_URL;

use super::clock::iso8601_ms;
use super::meta::{ObjectMeta, PartMeta};
use crate::protocol::xml::{
    CommonPrefix, ListBucketResult, ListMultipartUploadsResult, ListObjectsV2Result,
    ListPartsResult, ObjectSummary, Owner, PartSummary, UploadSummary, url_encode_field,
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

/// The objects after the listing's marker, in key order, paged.
fn object_page<'a>(
    objects: &'a BTreeMap<String, ObjectMeta>,
    listing: &KeyListing,
) -> (Vec<Entry<'a, ObjectMeta>>, bool) {
    let start = listing.key_marker.as_str().max(listing.prefix.as_str());
    let lower = if listing.key_marker.as_str() >= listing.prefix.as_str() {
        Bound::Excluded(start)
    } else {
        Bound::Included(start)
    };
    let items = objects
        .range::<str, _>((lower, Bound::Unbounded))
        .map(|(key, meta)| (key.as_str(), meta));
    page(listing, items)
}

/// The listed name of an entry: its key, or the common prefix itself.
fn entry_name<'a>(entry: &Entry<'a, ObjectMeta>) -> &'a str {
    match entry {
        Entry::Item(meta) => meta.key.as_str(),
        Entry::Prefix(prefix) => prefix,
    }
}

/// Splits a page into the summaries of its objects and its common prefixes, both
/// encoded as the listing asks.
fn object_entries(
    listing: &KeyListing,
    entries: &[Entry<'_, ObjectMeta>],
    owner: Option<&Owner>,
) -> (Vec<ObjectSummary>, Vec<CommonPrefix>) {
    let mut contents = Vec::new();
    let mut common_prefixes = Vec::new();
    for entry in entries {
        match entry {
            Entry::Item(meta) => contents.push(ObjectSummary {
                key: listing.encode(&meta.key),
                last_modified: iso8601_ms(meta.last_modified_ms),
                etag: format!("\"{}\"", meta.etag),
                object_type: meta.object_type.as_str().to_owned(),
                size: meta.size,
                storage_class: meta.attributes.storage_class.clone(),
                owner: owner.cloned(),
            }),
            Entry::Prefix(prefix) => common_prefixes.push(CommonPrefix {
                prefix: listing.encode(prefix),
            }),
        }
    }
    (contents, common_prefixes)
}

/// ListObjects (GET Bucket).
pub fn list_objects(
    bucket: &str,
    objects: &BTreeMap<String, ObjectMeta>,
    listing: &KeyListing,
) -> ListBucketResult {
    let (entries, truncated) = object_page(objects, listing);
    let next_marker = entries
        .last()
        .filter(|_| truncated)
        .map(|last| listing.encode(entry_name(last)));
    let (contents, common_prefixes) = object_entries(listing, &entries, None);
    ListBucketResult {
        encoding_type: listing.encoding_type(),
        name: bucket.to_owned(),
        prefix: listing.encode(&listing.prefix),
        marker: listing.encode(&listing.key_marker),
        max_keys: listing.max,
        delimiter: listing.encode(&listing.delimiter),
        is_truncated: truncated,
        next_marker,
        contents,
        common_prefixes,
    }
}

/// The one owner of every bucket and object `ossup serve` holds.
pub const OWNER_ID: &str = "ossup";

/// Query of ListObjectsV2. `keys.key_marker` is where the page starts: the key a
/// continuation token stands for, or else `start-after`.
#[derive(Debug, Clone, Default)]
pub struct ObjectListingV2 {
    pub keys: KeyListing,
    /// As the request gave them, to be echoed.
    pub start_after: Option<String>,
    pub continuation_token: Option<String>,
    /// Whether each object carries its Owner.
    pub fetch_owner: bool,
}

/// Version tag of our continuation tokens, so a token from elsewhere is refused rather
/// than misread.
const TOKEN_TAG: &str = "1.";

/// The continuation token that resumes a listing after `name` (a key or common prefix).
/// Clients treat it as opaque; it is URL-safe, so it travels unchanged in a query
/// string and through `encoding-type=url`.
pub fn continuation_token(name: &str) -> String {
    format!("{TOKEN_TAG}{}", BASE64_URL.encode(name))
}

/// The key or common prefix a continuation token resumes after; `None` for a token we
/// did not make.
pub fn token_marker(token: &str) -> Option<String> {
    let encoded = token.strip_prefix(TOKEN_TAG)?;
    let bytes = BASE64_URL.decode(encoded).ok()?;
    String::from_utf8(bytes).ok()
}

/// ListObjectsV2 (GetBucketV2): the paging of ListObjects, with common prefixes counted
/// towards max-keys, and a continuation token instead of a marker.
pub fn list_objects_v2(
    bucket: &str,
    objects: &BTreeMap<String, ObjectMeta>,
    listing: &ObjectListingV2,
) -> ListObjectsV2Result {
    let keys = &listing.keys;
    let (entries, truncated) = object_page(objects, keys);
    let next_continuation_token = entries
        .last()
        .filter(|_| truncated)
        .map(|last| keys.encode(&continuation_token(entry_name(last))));
    let owner = listing.fetch_owner.then(|| Owner {
        id: OWNER_ID.to_owned(),
        display_name: OWNER_ID.to_owned(),
    });
    let (contents, common_prefixes) = object_entries(keys, &entries, owner.as_ref());
    ListObjectsV2Result {
        name: bucket.to_owned(),
        prefix: keys.encode(&keys.prefix),
        continuation_token: listing
            .continuation_token
            .as_deref()
            .map(|t| keys.encode(t)),
        start_after: listing.start_after.as_deref().map(|s| keys.encode(s)),
        max_keys: keys.max,
        delimiter: keys.encode(&keys.delimiter),
        encoding_type: keys.encoding_type(),
        is_truncated: truncated,
        next_continuation_token,
        key_count: entries.len() as u32,
        contents,
        common_prefixes,
    }
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
    use crate::server::meta::FORMAT_VERSION;

    fn objects(keys: &[&str]) -> BTreeMap<String, ObjectMeta> {
        keys.iter()
            .map(|key| {
                let meta = ObjectMeta::for_test(key, 1);
                (key.to_string(), meta)
            })
            .collect()
    }

    /// Keys, then common prefixes, as a page lists them.
    fn names_of(contents: &[ObjectSummary], prefixes: &[CommonPrefix]) -> Vec<String> {
        contents
            .iter()
            .map(|o| o.key.clone())
            .chain(prefixes.iter().map(|p| p.prefix.clone()))
            .collect()
    }

    fn names(result: &ListBucketResult) -> Vec<String> {
        names_of(&result.contents, &result.common_prefixes)
    }

    fn v2_names(result: &ListObjectsV2Result) -> Vec<String> {
        names_of(&result.contents, &result.common_prefixes)
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

    /// Follows every V2 page of `listing`, checking KeyCount and max-keys on each.
    fn all_v2_pages(
        store: &BTreeMap<String, ObjectMeta>,
        mut listing: ObjectListingV2,
    ) -> Vec<ListObjectsV2Result> {
        let mut pages = Vec::new();
        loop {
            let page = list_objects_v2("bkt", store, &listing);
            let entries = page.contents.len() + page.common_prefixes.len();
            assert_eq!(page.key_count as usize, entries);
            assert!(entries <= listing.keys.max as usize);
            let token = page.next_continuation_token.clone();
            let truncated = page.is_truncated;
            pages.push(page);
            if !truncated {
                return pages;
            }
            let token = token.expect("a token on a truncated page");
            listing.keys.key_marker = token_marker(&token).expect("our own token");
            listing.continuation_token = Some(token);
        }
    }

    #[test]
    fn v2_prefixes_count_towards_max_keys_across_pages() {
        let store = objects(&["a", "b/1", "b/2", "b/3", "c", "d/x/1", "d/y", "e"]);
        let listing = ObjectListingV2 {
            keys: KeyListing {
                delimiter: "/".into(),
                max: 2,
                ..KeyListing::default()
            },
            ..ObjectListingV2::default()
        };
        let pages = all_v2_pages(&store, listing);
        let seen: Vec<String> = pages.iter().flat_map(v2_names).collect();
        assert_eq!(seen, ["a", "b/", "c", "d/", "e"]);
        assert_eq!(pages.len(), 3);
        // The first page ends on a common prefix: the next one must not repeat it.
        assert_eq!(v2_names(&pages[0]), ["a", "b/"]);
        assert_eq!(v2_names(&pages[1]), ["c", "d/"]);
        assert!(
            pages
                .iter()
                .all(|p| p.contents.iter().all(|o| o.owner.is_none()))
        );
    }

    #[test]
    fn v2_starts_after_a_key_and_owners_on_request() {
        let store = objects(&["a", "b", "c", "d"]);
        let listing = ObjectListingV2 {
            keys: KeyListing {
                key_marker: "b".into(),
                max: 100,
                ..KeyListing::default()
            },
            start_after: Some("b".into()),
            fetch_owner: true,
            ..ObjectListingV2::default()
        };
        let page = list_objects_v2("bkt", &store, &listing);
        assert_eq!(v2_names(&page), ["c", "d"]);
        assert_eq!(page.start_after.as_deref(), Some("b"));
        assert!(!page.is_truncated);
        assert_eq!(page.next_continuation_token, None);
        assert_eq!(page.contents[0].owner.as_ref().unwrap().id, OWNER_ID);
    }

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_refused() {
        for name in ["", "a", "dir/with space+plus%25/文件", "b/"] {
            let token = continuation_token(name);
            assert_eq!(url_encode_field(&token), token, "URL-safe: {token}");
            assert_eq!(token_marker(&token).as_deref(), Some(name));
        }
        assert_eq!(token_marker("CgJiYw--"), None);
        assert_eq!(token_marker("1.not base64!"), None);
        assert_eq!(token_marker("1.__8"), None, "bytes that are not UTF-8");
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
