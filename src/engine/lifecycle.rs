//! Lifecycle rules that abort stale uploads: reading what protects a bucket or prefix,
//! and setting or removing our own rule without disturbing anyone else's.
//!
//! The configuration is one document for the whole bucket, so every change is a
//! read-modify-write: the rules we did not write go back exactly as they were read (see
//! [`crate::protocol::lifecycle`]). Ours carries an id starting with [`OUR_RULE_PREFIX`].
//! Pure async functions over an [`OssClient`], retried like the listings.

use crate::protocol::OssClient;
use crate::protocol::error::OssError;
use crate::protocol::lifecycle::{LifecycleConfiguration, LifecycleRule};

use super::remote_uploads::listing_retrier;

/// How the ids of the rules ossup writes begin.
pub const OUR_RULE_PREFIX: &str = "ossup-abort-";

/// The id of our rule for `prefix` (`ossup-abort-all` for the whole bucket).
pub fn our_rule_id(prefix: &str) -> String {
    if prefix.is_empty() {
        format!("{OUR_RULE_PREFIX}all")
    } else {
        format!("{OUR_RULE_PREFIX}{prefix}")
    }
}

/// Whether a rule is one ossup wrote.
pub fn is_ours(rule: &LifecycleRule) -> bool {
    rule.id
        .as_deref()
        .is_some_and(|id| id.starts_with(OUR_RULE_PREFIX))
}

/// The bucket's configuration, `None` when it has no rules.
pub async fn get_lifecycle(
    client: &OssClient,
    bucket: &str,
) -> Result<Option<LifecycleConfiguration>, OssError> {
    listing_retrier(client)
        .run(|| client.get_bucket_lifecycle(bucket), |_| {})
        .await
}

/// Replaces the bucket's configuration with `config`.
pub async fn put_lifecycle(
    client: &OssClient,
    bucket: &str,
    config: &LifecycleConfiguration,
) -> Result<(), OssError> {
    listing_retrier(client)
        .run(|| client.put_bucket_lifecycle(bucket, config), |_| {})
        .await
}

/// Removes every rule of the bucket.
pub async fn delete_lifecycle(client: &OssClient, bucket: &str) -> Result<(), OssError> {
    listing_retrier(client)
        .run(|| client.delete_bucket_lifecycle(bucket), |_| {})
        .await
}

/// Enabled rules with `AbortMultipartUpload` that reach uploads under `prefix`: those
/// covering all of it and those covering part of it.
pub fn abort_rules_for<'c>(
    config: &'c LifecycleConfiguration,
    prefix: &str,
) -> Vec<&'c LifecycleRule> {
    config
        .rules
        .iter()
        .filter(|rule| rule.is_enabled() && rule.abort_multipart_upload.is_some())
        .filter(|rule| rule.prefix.starts_with(prefix) || prefix.starts_with(&rule.prefix))
        .collect()
}

/// What aborts every stale upload under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbortProtection {
    pub rule_id: Option<String>,
    /// The prefix the rule names (the prefix asked about, or one above it).
    pub rule_prefix: String,
    pub days: Option<i64>,
    pub created_before_date: Option<String>,
    /// Whether ossup wrote the rule.
    pub ours: bool,
}

impl AbortProtection {
    /// "uploads older than 7 days are aborted by the bucket".
    pub fn describe(&self) -> String {
        let scope = if self.rule_prefix.is_empty() {
            "the bucket".to_owned()
        } else {
            format!("the bucket (rule for {})", self.rule_prefix)
        };
        match (self.days, &self.created_before_date) {
            (Some(1), _) => format!("uploads older than 1 day are aborted by {scope}"),
            (Some(days), _) => format!("uploads older than {days} days are aborted by {scope}"),
            (None, Some(date)) => format!(
                "uploads started before {} are aborted by {scope}",
                date.get(..10).unwrap_or(date)
            ),
            (None, None) => format!("uploads are aborted by {scope}"),
        }
    }
}

/// The enabled rule that aborts uploads anywhere under `prefix` soonest, if any.
pub fn protection(
    config: Option<&LifecycleConfiguration>,
    prefix: &str,
) -> Option<AbortProtection> {
    let config = config?;
    config
        .rules
        .iter()
        .filter(|rule| {
            rule.is_enabled() && rule.tags.is_empty() && prefix.starts_with(&rule.prefix)
        })
        .filter_map(|rule| {
            let deadline = rule.abort_multipart_upload.as_ref()?;
            Some(AbortProtection {
                rule_id: rule.id.clone(),
                rule_prefix: rule.prefix.clone(),
                days: deadline.days,
                created_before_date: deadline.created_before_date.clone(),
                ours: is_ours(rule),
            })
        })
        .min_by_key(|p| (p.days.is_none(), p.days))
}

/// `config` with our rule for `prefix` added, or updated in place to `days`.
pub fn with_our_rule(
    config: Option<LifecycleConfiguration>,
    prefix: &str,
    days: i64,
) -> LifecycleConfiguration {
    let mut config = config.unwrap_or_default();
    let id = our_rule_id(prefix);
    let rule = LifecycleRule::abort_uploads_after(&id, prefix, days);
    match config
        .rules
        .iter_mut()
        .find(|r| r.id.as_deref() == Some(&id))
    {
        Some(existing) => *existing = rule,
        None => config.rules.push(rule),
    }
    config
}

/// Adds or updates our rule aborting uploads under `prefix` `days` after they start;
/// returns the configuration now on the bucket.
pub async fn set_auto_abort(
    client: &OssClient,
    bucket: &str,
    prefix: &str,
    days: i64,
) -> Result<LifecycleConfiguration, OssError> {
    let current = get_lifecycle(client, bucket).await?;
    let config = with_our_rule(current, prefix, days);
    put_lifecycle(client, bucket, &config).await?;
    Ok(config)
}

/// Removes our rule for `prefix`, deleting the configuration when it was the only rule.
/// Returns whether there was one to remove.
pub async fn remove_auto_abort(
    client: &OssClient,
    bucket: &str,
    prefix: &str,
) -> Result<bool, OssError> {
    let Some(mut config) = get_lifecycle(client, bucket).await? else {
        return Ok(false);
    };
    let id = our_rule_id(prefix);
    let before = config.rules.len();
    config.rules.retain(|r| r.id.as_deref() != Some(&id));
    if config.rules.len() == before {
        return Ok(false);
    }
    if config.rules.is_empty() {
        delete_lifecycle(client, bucket).await?;
    } else {
        put_lifecycle(client, bucket, &config).await?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_rule_is_added_once_and_updated_in_place() {
        let foreign = LifecycleRule {
            id: Some("theirs".into()),
            prefix: "logs/".into(),
            ..LifecycleRule::abort_uploads_after("theirs", "logs/", 3)
        };
        let config = LifecycleConfiguration {
            rules: vec![foreign.clone()],
        };
        let config = with_our_rule(Some(config), "tmp/", 7);
        let config = with_our_rule(Some(config), "tmp/", 9);
        assert_eq!(config.rules.len(), 2);
        assert_eq!(config.rules[0], foreign);
        assert_eq!(config.rules[1].id.as_deref(), Some("ossup-abort-tmp/"));
        assert_eq!(
            config.rules[1]
                .abort_multipart_upload
                .as_ref()
                .unwrap()
                .days,
            Some(9)
        );
        let shown = protection(Some(&config), "tmp/x/").unwrap();
        assert!(shown.ours);
        assert_eq!(
            shown.describe(),
            "uploads older than 9 days are aborted by the bucket (rule for tmp/)"
        );
        assert_eq!(protection(Some(&config), "other/"), None);
        assert_eq!(abort_rules_for(&config, "").len(), 2);
        assert_eq!(our_rule_id(""), "ossup-abort-all");
    }
}
