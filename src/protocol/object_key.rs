//! Naming rules for object keys and bucket names, checked before any request is sent.

use thiserror::Error;

/// Longest key OSS accepts, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1023;

/// Why a key or bucket name was refused. Each message names the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("the object key is empty; a key must be 1 to 1023 bytes of UTF-8")]
    EmptyKey,
    #[error("the object key is {0} bytes long; a key must be at most 1023 bytes of UTF-8")]
    KeyTooLong(usize),
    #[error("the object key {0:?} starts with '{1}'; a key must not start with '/' or '\\'")]
    KeyLeadingSeparator(String, char),
    #[error("the object key contains a control character (NUL or newline), which OSS rejects")]
    KeyControlCharacter,
    #[error(
        "{0:?} is not a valid bucket name: 3 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit and not ending with '-'"
    )]
    InvalidBucket(String),
}

/// Checks an object key against the OSS naming rules: UTF-8 (guaranteed by `&str`),
/// 1 to 1023 bytes, not starting with `/` or `\`.
pub fn validate_object_key(key: &str) -> Result<(), NameError> {
    if key.is_empty() {
        return Err(NameError::EmptyKey);
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(NameError::KeyTooLong(key.len()));
    }
    if let Some(first @ ('/' | '\\')) = key.chars().next() {
        return Err(NameError::KeyLeadingSeparator(key.to_owned(), first));
    }
    // The protocol carries keys in XML and HTTP lines; NUL, CR and LF cannot round-trip.
    if key.chars().any(|c| matches!(c, '\0' | '\r' | '\n')) {
        return Err(NameError::KeyControlCharacter);
    }
    Ok(())
}

/// Checks a bucket name: 3–63 characters of `[a-z0-9-]`, not starting or ending with `-`.
pub fn validate_bucket_name(bucket: &str) -> Result<(), NameError> {
    let bytes = bucket.as_bytes();
    let valid = (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-';
    if valid {
        Ok(())
    } else {
        Err(NameError::InvalidBucket(bucket.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_seed_rules() {
        assert_eq!(validate_object_key(""), Err(NameError::EmptyKey));
        assert!(validate_object_key("a").is_ok());
        assert!(validate_object_key("dir/文件 +1.txt").is_ok());
        assert!(validate_object_key(&"k".repeat(1023)).is_ok());
        assert_eq!(
            validate_object_key(&"k".repeat(1024)),
            Err(NameError::KeyTooLong(1024))
        );
        // 341 three-byte characters are 1023 bytes; one more goes over.
        assert!(validate_object_key(&"文".repeat(341)).is_ok());
        assert!(validate_object_key(&"文".repeat(342)).is_err());
        assert!(matches!(
            validate_object_key("/abs"),
            Err(NameError::KeyLeadingSeparator(_, '/'))
        ));
        assert!(matches!(
            validate_object_key("\\win"),
            Err(NameError::KeyLeadingSeparator(_, '\\'))
        ));
        assert!(validate_object_key("a/b/").is_ok());
        let message = validate_object_key("/abs").unwrap_err().to_string();
        assert!(message.contains("must not start with '/'"), "{message}");
    }

    #[test]
    fn bucket_names() {
        assert!(validate_bucket_name("example-bucket").is_ok());
        assert!(validate_bucket_name("ab").is_err());
        assert!(validate_bucket_name("-ab").is_err());
        assert!(validate_bucket_name("ab-").is_err());
        assert!(validate_bucket_name("Upper").is_err());
        assert!(validate_bucket_name(&"a".repeat(64)).is_err());
    }
}
