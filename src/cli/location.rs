//! `oss://bucket/prefix` locations as typed on the command line.

use crate::protocol::ObjectRef;
use crate::protocol::object_key::{validate_bucket_name, validate_object_key};

use super::error::CliError;

/// A bucket and a key or prefix (possibly empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssLocation {
    pub bucket: String,
    /// Everything after `oss://bucket/`, as typed.
    pub path: String,
}

impl OssLocation {
    /// Parses `oss://bucket`, `oss://bucket/`, `oss://bucket/prefix/`, `oss://bucket/key`.
    pub fn parse(text: &str) -> Result<Self, CliError> {
        let rest = text.strip_prefix("oss://").ok_or_else(|| {
            CliError::Usage(format!(
                "{text:?} is not an OSS location; write it like oss://bucket/prefix/"
            ))
        })?;
        let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
        validate_bucket_name(bucket).map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(Self {
            bucket: bucket.to_owned(),
            path: path.to_owned(),
        })
    }

    /// The prefix as given, or `None` when empty.
    pub fn prefix(&self) -> Option<&str> {
        Some(self.path.as_str()).filter(|p| !p.is_empty())
    }

    /// The path as an object key, refused (with the rule it breaks) if it is not one.
    pub fn key(&self) -> Result<&str, CliError> {
        validate_object_key(&self.path).map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(&self.path)
    }

    /// Whether the path names a folder (empty or ending in `/`).
    pub fn is_folder(&self) -> bool {
        self.path.is_empty() || self.path.ends_with('/')
    }
}

impl std::fmt::Display for OssLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        ObjectRef::new(&self.bucket, &self.path).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        let l = OssLocation::parse("oss://bucket-1").expect("parses");
        assert_eq!(
            (l.bucket.as_str(), l.path.as_str(), l.is_folder()),
            ("bucket-1", "", true)
        );
        let l = OssLocation::parse("oss://bucket-1/a/b/").expect("parses");
        assert_eq!((l.path.as_str(), l.is_folder()), ("a/b/", true));
        let l = OssLocation::parse("oss://bucket-1/a/b.txt").expect("parses");
        assert_eq!((l.key().expect("key"), l.is_folder()), ("a/b.txt", false));
        assert!(OssLocation::parse("s3://bucket/x").is_err());
        assert!(OssLocation::parse("oss://Bad_Bucket/x").is_err());
        let l = OssLocation::parse("oss://bucket-1//abs").expect("parses");
        let message = l.key().expect_err("leading slash").to_string();
        assert!(message.contains("must not start with '/'"), "{message}");
    }
}
