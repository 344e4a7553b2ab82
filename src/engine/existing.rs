//! What is already on the server under a destination prefix, and whether a file needs
//! sending again (`--skip-existing`, `--skip-unchanged`, `--checksum`).
//!
//! The prefix is listed once per Add (ListObjectsV2 pages, streamed), never one request
//! per file: a re-run of an unchanged folder costs one listing and no upload. The listing
//! is kept as a sorted map of key → (size, LastModified), so its memory grows with the
//! number of objects under the prefix (about 100 bytes a key): a prefix holding millions
//! of objects holds millions of entries here for the length of the Add.
//!
//! ListObjectsV2 does not return user metadata, so `x-oss-meta-mtime` (the file's
//! modification time recorded at upload) is read with one HeadObject, and only for a
//! same-size candidate whose LastModified is older than the file. A LastModified that is
//! not older than the file decides "unchanged" on its own: a file whose modification time
//! moved to a moment still before the object was uploaded is only caught by `--checksum`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::UNIX_EPOCH;

use futures_util::TryStreamExt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::command::OverwritePolicy;
use super::folder_plan::PlannedFile;
use super::source_file;
use crate::protocol::client::{ListObjectsV2Params, OssClient};
use crate::protocol::error::OssError;
use crate::protocol::signing::parse_http_date;

/// One listed object: what the comparison needs and nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Listed {
    size: u64,
    /// LastModified in seconds since the epoch (0 when it could not be read).
    last_modified_secs: u64,
}

/// The objects under one prefix of one bucket, by key.
#[derive(Debug)]
pub(crate) struct ExistingObjects {
    bucket: String,
    objects: BTreeMap<String, Listed>,
    /// The listing succeeded, so a key missing from `objects` does not exist. When it
    /// failed (e.g. a key allowed to put but not to list), each file is looked up with
    /// its own HeadObject instead: slower, but what exists is still not overwritten.
    listed: bool,
}

impl ExistingObjects {
    /// Lists every object under `prefix` (all pages).
    pub(crate) async fn list(
        client: &OssClient,
        bucket: &str,
        prefix: &str,
    ) -> Result<Self, OssError> {
        Self::list_pages(client, bucket, prefix, None)
            .await
            .map(|(existing, _)| existing)
    }

    /// Lists the objects under `prefix`, reading at most `max_pages` pages (all with
    /// `None`); also says whether every page was read.
    async fn list_pages(
        client: &OssClient,
        bucket: &str,
        prefix: &str,
        max_pages: Option<usize>,
    ) -> Result<(Self, bool), OssError> {
        let params = ListObjectsV2Params {
            prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
            max_keys: Some(1000),
            ..ListObjectsV2Params::default()
        };
        let mut objects = BTreeMap::new();
        let mut pages = std::pin::pin!(client.list_objects_v2_pages(bucket, &params));
        let mut pages_read = 0;
        let mut complete = true;
        while let Some(page) = pages.try_next().await? {
            for object in page.contents {
                let listed = Listed {
                    size: object.size,
                    last_modified_secs: iso8601_secs(&object.last_modified).unwrap_or(0),
                };
                objects.insert(object.key, listed);
            }
            pages_read += 1;
            if page.is_truncated && max_pages.is_some_and(|max| pages_read >= max) {
                complete = false;
                break;
            }
        }
        let existing = Self {
            bucket: bucket.to_owned(),
            objects,
            listed: true,
        };
        Ok((existing, complete))
    }

    /// Nothing known: every file is looked up on its own.
    pub(crate) fn unlisted(bucket: &str) -> Self {
        Self {
            bucket: bucket.to_owned(),
            objects: BTreeMap::new(),
            listed: false,
        }
    }

    /// The object at `key` from the listing, or from a HeadObject when there is none.
    fn lookup(
        &self,
        runtime: &tokio::runtime::Handle,
        client: &OssClient,
        key: &str,
    ) -> Result<Option<Listed>, String> {
        if self.listed {
            return Ok(self.objects.get(key).copied());
        }
        match runtime.block_on(client.head_object(&self.bucket, key)) {
            Ok(head) => Ok(Some(Listed {
                size: head.size,
                last_modified_secs: head
                    .last_modified
                    .as_deref()
                    .and_then(parse_http_date)
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs()),
            })),
            Err(e) if e.service().is_some_and(|s| s.status == 404) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Why `file` need not be sent under `policy`, or `None` to send it. Errors (the
    /// HeadObject, reading the file) are sentences; the caller sends the file then.
    /// Blocking (reads the file for `--checksum`): call it off the async threads, with
    /// `runtime` to run the one request a candidate may need.
    pub(crate) fn skip_reason(
        &self,
        runtime: &tokio::runtime::Handle,
        client: &OssClient,
        file: &PlannedFile,
        policy: OverwritePolicy,
    ) -> Result<Option<String>, String> {
        if policy == OverwritePolicy::Overwrite {
            return Ok(None);
        }
        let Some(listed) = self.lookup(runtime, client, &file.key)? else {
            return Ok(None);
        };
        let checksum = match policy {
            OverwritePolicy::Overwrite => return Ok(None),
            OverwritePolicy::SkipExisting => {
                return Ok(Some("exists: skipped (skip existing objects)".to_owned()));
            }
            OverwritePolicy::SkipUnchanged { checksum } => checksum,
        };
        let size = std::fs::metadata(&file.path)
            .map(|m| m.len())
            .map_err(|e| format!("Could not read {}: {e}.", file.path.display()))?;
        if listed.size != size {
            return Ok(None);
        }
        if checksum {
            let head = runtime
                .block_on(client.head_object(&self.bucket, &file.key))
                .map_err(|e| e.to_string())?;
            let Some(remote_crc) = head.crc64 else {
                return Ok(None);
            };
            let local_crc = source_file::crc_of_range(&file.path, 0, size)
                .map_err(|e| format!("Could not read {}: {e}.", file.path.display()))?;
            return Ok(
                (remote_crc == local_crc).then(|| "unchanged: same size and CRC-64".to_owned())
            );
        }
        let file_mtime = mtime_secs(&file.path)?;
        if listed.last_modified_secs >= file_mtime {
            return Ok(Some(UNCHANGED.to_owned()));
        }
        // The object looks older than the file, but it may have been uploaded from this
        // very file: the recorded mtime says so.
        let head = runtime
            .block_on(client.head_object(&self.bucket, &file.key))
            .map_err(|e| e.to_string())?;
        Ok(head
            .mtime_unix_secs
            .filter(|recorded| *recorded >= file_mtime)
            .map(|_| UNCHANGED.to_owned()))
    }
}

const UNCHANGED: &str = "unchanged: same size, not older";

/// Which keys exist under one prefix, as far as a listing of bounded length could tell:
/// a front end asks before adding files onto keys that may already be there.
#[derive(Debug)]
pub struct ExistingKeys {
    existing: ExistingObjects,
    /// Every page was read, so a key that was not listed does not exist.
    complete: bool,
}

impl ExistingKeys {
    /// `Some(true)`: `key` was listed; `Some(false)`: it does not exist; `None`: the
    /// listing stopped before it could tell.
    pub fn exists(&self, key: &str) -> Option<bool> {
        if self.existing.objects.contains_key(key) {
            Some(true)
        } else if self.complete || self.last_key().is_some_and(|last| last > key) {
            Some(false)
        } else {
            None
        }
    }

    /// The listed keys that start with `prefix`, in order, and whether they are all
    /// there are (every page was read, or the listing went past every such key).
    pub fn under<'a>(&'a self, prefix: &'a str) -> (impl Iterator<Item = &'a str>, bool) {
        let keys = self
            .existing
            .objects
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .map(|(key, _)| key.as_str())
            .take_while(move |key| key.starts_with(prefix));
        let all = self.complete
            || self
                .last_key()
                .is_some_and(|last| last > prefix && !last.starts_with(prefix));
        (keys, all)
    }

    /// The greatest key listed: the listing is in key order, so every key before it was
    /// seen.
    fn last_key(&self) -> Option<&str> {
        self.existing
            .objects
            .last_key_value()
            .map(|(key, _)| key.as_str())
    }
}

/// Lists the keys under `prefix` in `bucket`, reading at most `max_pages` pages of 1000
/// keys, so asking costs a bounded time even under a prefix of millions of objects.
pub async fn existing_keys(
    client: &OssClient,
    bucket: &str,
    prefix: &str,
    max_pages: usize,
) -> Result<ExistingKeys, OssError> {
    let (existing, complete) =
        ExistingObjects::list_pages(client, bucket, prefix, Some(max_pages.max(1))).await?;
    Ok(ExistingKeys { existing, complete })
}

fn mtime_secs(path: &Path) -> Result<u64, String> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(|t| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
        .map_err(|e| format!("Could not read {}: {e}.", path.display()))
}

fn iso8601_secs(text: &str) -> Option<u64> {
    let parsed = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    u64::try_from(parsed.unix_timestamp()).ok()
}

/// The longest common prefix of `keys` (on a character boundary): one listing of it
/// covers them all, and a single key lists little more than itself.
pub(crate) fn common_prefix<'a>(keys: impl IntoIterator<Item = &'a str>) -> String {
    let mut keys = keys.into_iter();
    let Some(first) = keys.next() else {
        return String::new();
    };
    let mut common = first.len();
    for key in keys {
        common = first
            .bytes()
            .zip(key.bytes())
            .take(common)
            .take_while(|(a, b)| a == b)
            .count();
    }
    while !first.is_char_boundary(common) {
        common -= 1;
    }
    first[..common].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str], complete: bool) -> ExistingKeys {
        let listed = Listed {
            size: 1,
            last_modified_secs: 0,
        };
        let mut existing = ExistingObjects::unlisted("b");
        existing.listed = true;
        existing.objects = names.iter().map(|n| (n.to_string(), listed)).collect();
        ExistingKeys { existing, complete }
    }

    #[test]
    fn a_listing_cut_short_tells_only_about_keys_it_went_past() {
        let cut = keys(&["a/1", "a/2", "b/1"], false);
        assert_eq!(cut.exists("a/1"), Some(true));
        assert_eq!(cut.exists("a/3"), Some(false));
        assert_eq!(cut.exists("c"), None);
        let (under_a, all_a) = cut.under("a/");
        assert_eq!(under_a.collect::<Vec<_>>(), ["a/1", "a/2"]);
        assert!(all_a);
        let (under_b, all_b) = cut.under("b/");
        assert_eq!(under_b.collect::<Vec<_>>(), ["b/1"]);
        assert!(!all_b, "b/2 may come on a page not read");

        let whole = keys(&["a/1"], true);
        assert_eq!(whole.exists("c"), Some(false));
        assert!(whole.under("b/").1);
        assert_eq!(keys(&[], false).exists("a"), None);
    }

    #[test]
    fn one_listing_covers_the_common_prefix() {
        assert_eq!(common_prefix(["a/b/c", "a/b/d", "a/bx"]), "a/b");
        assert_eq!(common_prefix(["a/b/c"]), "a/b/c");
        assert_eq!(common_prefix(["x", "a/b"]), "");
        assert_eq!(common_prefix(["é", "è"]), "");
        assert_eq!(common_prefix(Vec::<&str>::new()), "");
        assert_eq!(
            iso8601_secs("2025-01-15T12:00:00.000Z"),
            Some(1_736_942_400)
        );
    }
}
