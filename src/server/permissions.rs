//! What each key may do: the RAM actions of Alibaba's OSS policies, played locally.
//!
//! A real account attaches a RAM policy to a key; `ossup serve` gives each key a set of
//! actions instead (`--access-key ID:SECRET:PERMISSIONS`). Every operation the server
//! implements needs the one action RAM's documentation names for it ([`ACTION_TABLE`]);
//! a request whose key lacks it is refused with OSS's `AccessDenied` answer, which names
//! the action in `AuthAction` as OSS does.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use super::request::Operation;
use crate::protocol::ServiceError;

/// OSS's EC for a request no Allow statement grants.
pub const EC_IMPLICIT_DENY: &str = "0003-00000202";

/// Every operation the server implements and the RAM action that authorises it.
/// Multipart steps that write (Initiate, UploadPart, Complete) are covered by
/// `oss:PutObject`, reads of an object or its metadata by `oss:GetObject`.
pub const ACTION_TABLE: &[(Operation, &str)] = &[
    (Operation::ListBuckets, "oss:ListBuckets"),
    (Operation::PutBucket, "oss:PutBucket"),
    (Operation::DeleteBucket, "oss:DeleteBucket"),
    (Operation::ListObjects, "oss:ListObjects"),
    (Operation::ListObjectsV2, "oss:ListObjects"),
    (Operation::ListMultipartUploads, "oss:ListMultipartUploads"),
    (Operation::PutObject, "oss:PutObject"),
    (Operation::GetObject, "oss:GetObject"),
    (Operation::HeadObject, "oss:GetObject"),
    (Operation::DeleteObject, "oss:DeleteObject"),
    (Operation::InitiateMultipartUpload, "oss:PutObject"),
    (Operation::UploadPart, "oss:PutObject"),
    (Operation::CompleteMultipartUpload, "oss:PutObject"),
    (Operation::AbortMultipartUpload, "oss:AbortMultipartUpload"),
    (Operation::ListParts, "oss:ListParts"),
    (Operation::PutBucketLifecycle, "oss:PutBucketLifecycle"),
    (Operation::GetBucketLifecycle, "oss:GetBucketLifecycle"),
    (
        Operation::DeleteBucketLifecycle,
        "oss:DeleteBucketLifecycle",
    ),
];

/// RAM actions a permission list may name: the ones in [`ACTION_TABLE`].
pub const KNOWN_ACTIONS: &[&str] = &[
    "oss:PutObject",
    "oss:GetObject",
    "oss:DeleteObject",
    "oss:ListObjects",
    "oss:ListParts",
    "oss:ListMultipartUploads",
    "oss:AbortMultipartUpload",
    "oss:ListBuckets",
    "oss:PutBucket",
    "oss:DeleteBucket",
    "oss:GetBucketLifecycle",
    "oss:PutBucketLifecycle",
    "oss:DeleteBucketLifecycle",
];

/// What an `upload-only` key may do: the single action RAM needs for simple and
/// multipart uploads.
pub const UPLOAD_ONLY: &[&str] = &["oss:PutObject"];
/// What a `read-only` key may do.
pub const READ_ONLY: &[&str] = &[
    "oss:GetObject",
    "oss:ListObjects",
    "oss:ListParts",
    "oss:ListMultipartUploads",
    "oss:ListBuckets",
    "oss:GetBucketLifecycle",
];

/// The RAM action that authorises `operation`.
pub fn action_for(operation: Operation) -> &'static str {
    ACTION_TABLE
        .iter()
        .find(|(op, _)| *op == operation)
        .map(|(_, action)| *action)
        .unwrap_or("oss:*")
}

/// The actions one key is allowed.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Permissions {
    /// Every action (`full`, the default).
    #[default]
    Full,
    /// Only these actions.
    Only(BTreeSet<&'static str>),
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Permissions::Full => f.write_str("full"),
            Permissions::Only(actions) => f.debug_set().entries(actions).finish(),
        }
    }
}

impl Permissions {
    /// Parses `full`, `upload-only`, `read-only`, or a comma list of RAM action names.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "" | "full" => return Ok(Permissions::Full),
            "upload-only" => return Ok(Self::of(UPLOAD_ONLY)),
            "read-only" => return Ok(Self::of(READ_ONLY)),
            _ => {}
        }
        let mut actions = BTreeSet::new();
        for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let known = KNOWN_ACTIONS
                .iter()
                .find(|known| known.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    format!(
                        "unknown permission `{name}`: expected full, upload-only, read-only or RAM actions such as oss:PutObject,oss:ListParts"
                    )
                })?;
            actions.insert(*known);
        }
        if actions.is_empty() {
            return Err("expected at least one RAM action".to_owned());
        }
        Ok(Permissions::Only(actions))
    }

    fn of(actions: &[&'static str]) -> Self {
        Permissions::Only(actions.iter().copied().collect())
    }

    pub fn allows(&self, action: &str) -> bool {
        match self {
            Permissions::Full => true,
            Permissions::Only(actions) => actions.contains(action),
        }
    }
}

/// Permissions per access key id; keys not named have [`Permissions::Full`].
#[derive(Debug, Clone, Default)]
pub struct PermissionTable {
    by_key: HashMap<String, Permissions>,
}

impl PermissionTable {
    pub fn new(entries: &[(String, Permissions)]) -> Self {
        Self {
            by_key: entries.iter().cloned().collect(),
        }
    }

    /// `Ok` if `access_key_id` may perform `operation`, else OSS's `AccessDenied`.
    pub fn check(
        &self,
        access_key_id: &str,
        operation: Operation,
        bucket: Option<&str>,
        key: Option<&str>,
    ) -> Result<(), ServiceError> {
        let action = action_for(operation);
        match self.by_key.get(access_key_id) {
            Some(permissions) if !permissions.allows(action) => {
                Err(access_denied(action, bucket, key))
            }
            _ => Ok(()),
        }
    }
}

/// OSS's answer to a request no policy allows.
pub fn access_denied(action: &str, bucket: Option<&str>, key: Option<&str>) -> ServiceError {
    let resource = match (bucket, key) {
        (Some(bucket), Some(key)) => format!("acs:oss:*:*:{bucket}/{key}"),
        (Some(bucket), None) => format!("acs:oss:*:*:{bucket}"),
        _ => "acs:oss:*:*:*".to_owned(),
    };
    let mut error = ServiceError::new(
        403,
        "AccessDenied",
        format!(
            "You have no right to access this resource: no policy allows {action} on {resource}."
        ),
    )
    .with_detail("AuthAction", action)
    .with_detail("NoPermissionType", "ImplicitDeny");
    error.ec = Some(EC_IMPLICIT_DENY.into());
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_lists_parse() {
        assert_eq!(Permissions::parse("full").unwrap(), Permissions::Full);
        assert_eq!(Permissions::parse("").unwrap(), Permissions::Full);
        let upload = Permissions::parse("upload-only").unwrap();
        assert!(upload.allows("oss:PutObject"));
        assert!(!upload.allows("oss:ListParts"));
        assert!(!upload.allows("oss:ListMultipartUploads"));
        let read = Permissions::parse("read-only").unwrap();
        assert!(read.allows("oss:GetObject"));
        assert!(!read.allows("oss:PutObject"));
        let list = Permissions::parse("oss:PutObject, oss:listparts").unwrap();
        assert!(list.allows("oss:PutObject"));
        assert!(list.allows("oss:ListParts"));
        assert!(!list.allows("oss:AbortMultipartUpload"));
    }

    #[test]
    fn unknown_or_empty_lists_are_refused() {
        assert!(Permissions::parse("oss:Everything").is_err());
        assert!(Permissions::parse("write").is_err());
        assert!(Permissions::parse(",").is_err());
    }

    #[test]
    fn the_table_names_rams_actions() {
        assert_eq!(
            action_for(Operation::InitiateMultipartUpload),
            "oss:PutObject"
        );
        assert_eq!(action_for(Operation::UploadPart), "oss:PutObject");
        assert_eq!(
            action_for(Operation::CompleteMultipartUpload),
            "oss:PutObject"
        );
        assert_eq!(action_for(Operation::HeadObject), "oss:GetObject");
        assert_eq!(action_for(Operation::ListObjectsV2), "oss:ListObjects");
        assert_eq!(action_for(Operation::ListParts), "oss:ListParts");
        assert_eq!(
            action_for(Operation::AbortMultipartUpload),
            "oss:AbortMultipartUpload"
        );
        assert_eq!(
            action_for(Operation::GetBucketLifecycle),
            "oss:GetBucketLifecycle"
        );
        assert_eq!(
            action_for(Operation::DeleteBucketLifecycle),
            "oss:DeleteBucketLifecycle"
        );
        for (_, action) in ACTION_TABLE {
            assert!(KNOWN_ACTIONS.contains(action), "{action} is not parseable");
        }
    }

    #[test]
    fn refusals_name_the_action() {
        let table =
            PermissionTable::new(&[("W".into(), Permissions::parse("upload-only").unwrap())]);
        assert!(
            table
                .check("W", Operation::UploadPart, Some("b"), Some("k"))
                .is_ok()
        );
        let error = table
            .check("W", Operation::ListParts, Some("b"), Some("k"))
            .unwrap_err();
        assert_eq!(error.status, 403);
        assert_eq!(error.code, "AccessDenied");
        assert!(error.message.contains("oss:ListParts"));
        assert!(
            table
                .check("OTHER", Operation::ListParts, None, None)
                .is_ok()
        );
    }
}
