//! An object named by bucket and key, written the way people and tools write it:
//! `oss://BUCKET/KEY`. Every message that names an object goes through [`ObjectRef`], so
//! the window, the CLI and the engine spell it the same way.

use std::fmt;

/// A bucket and a key; displays as `oss://bucket/key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRef<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
}

impl<'a> ObjectRef<'a> {
    pub fn new(bucket: &'a str, key: &'a str) -> Self {
        Self { bucket, key }
    }
}

impl fmt::Display for ObjectRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oss://{}/{}", self.bucket, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_an_oss_url() {
        assert_eq!(
            ObjectRef::new("demo", "a/b.txt").to_string(),
            "oss://demo/a/b.txt"
        );
        // A prefix ending in '/' names a folder-like destination.
        assert_eq!(ObjectRef::new("demo", "").to_string(), "oss://demo/");
    }
}
