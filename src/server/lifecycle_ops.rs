//! PutBucketLifecycle, GetBucketLifecycle and DeleteBucketLifecycle.
//!
//! Rules are checked as OSS checks them and kept whole, each rule's XML as it was given;
//! the store applies their `AbortMultipartUpload` (see [`super::store::Store::apply_lifecycle`]).
//! Expiration and Transition are kept and returned but not applied.

use std::collections::HashSet;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5};

use super::call::Call;
use super::errors;
use super::response;
use crate::protocol::ServiceError;
use crate::protocol::lifecycle::{
    LifecycleConfiguration, LifecycleRule, NO_SUCH_LIFECYCLE, STATUS_DISABLED, STATUS_ENABLED,
    is_midnight_date,
};

/// Rules one bucket may have, as OSS.
pub const MAX_RULES: usize = 1000;
/// Longest rule ID OSS accepts.
const MAX_ID_BYTES: usize = 255;
/// Largest PutBucketLifecycle body taken in.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Storage classes a Transition may name.
const STORAGE_CLASSES: &[&str] = &["IA", "Archive", "ColdArchive", "DeepColdArchive"];

pub async fn put_lifecycle(call: &Call<'_>, body: &mut Body) -> Result<Response, ServiceError> {
    let body = axum::body::to_bytes(std::mem::take(body), MAX_BODY_BYTES)
        .await
        .map_err(|_| errors::malformed_xml("the body is too large or was cut short"))?;
    if let Some(sent) = call.header("content-md5") {
        let digest: [u8; 16] = Md5::digest(&body).into();
        if BASE64.decode(sent.trim()).ok().as_deref() != Some(&digest[..]) {
            return Err(errors::invalid_digest(sent));
        }
    }
    let config = LifecycleConfiguration::parse(&body).map_err(|e| errors::malformed_xml(&e))?;
    validate(&config)?;
    call.app.store.put_lifecycle(call.bucket(), config).await?;
    Ok(response::empty(StatusCode::OK))
}

pub async fn get_lifecycle(call: &Call<'_>) -> Result<Response, ServiceError> {
    let bucket = call.bucket();
    match call.app.store.lifecycle(bucket).await? {
        Some(xml) => Ok(response::xml_text(xml)),
        None => Err(
            ServiceError::new(404, NO_SUCH_LIFECYCLE, "No Row found in Lifecycle Table.")
                .with_detail("BucketName", bucket),
        ),
    }
}

pub async fn delete_lifecycle(call: &Call<'_>) -> Result<Response, ServiceError> {
    call.app.store.delete_lifecycle(call.bucket()).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

fn invalid(name: &str, value: &str, message: &str) -> ServiceError {
    errors::invalid_argument(name, value, message)
}

/// The checks OSS makes before it takes a configuration.
pub fn validate(config: &LifecycleConfiguration) -> Result<(), ServiceError> {
    if config.rules.is_empty() {
        return Err(errors::malformed_xml(
            "a lifecycle configuration needs a Rule",
        ));
    }
    if config.rules.len() > MAX_RULES {
        return Err(invalid(
            "Rule",
            &config.rules.len().to_string(),
            "A bucket can have at most 1000 lifecycle rules.",
        ));
    }
    let mut ids = HashSet::new();
    for rule in &config.rules {
        validate_rule(rule)?;
        if let Some(id) = &rule.id
            && !ids.insert(id.as_str())
        {
            return Err(invalid("ID", id, "Rule ID must be unique."));
        }
    }
    for (n, a) in config.rules.iter().enumerate() {
        for b in &config.rules[n + 1..] {
            if overlap(a, b) {
                return Err(invalid(
                    "Prefix",
                    &b.prefix,
                    &format!(
                        "Overlap prefix {:?} and {:?} for the same action type.",
                        a.prefix, b.prefix
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Two rules without tags whose prefixes overlap may not both carry the same action.
fn overlap(a: &LifecycleRule, b: &LifecycleRule) -> bool {
    if !a.tags.is_empty() || !b.tags.is_empty() {
        return false;
    }
    let prefixes_overlap = a.prefix.starts_with(&b.prefix) || b.prefix.starts_with(&a.prefix);
    prefixes_overlap
        && ((a.abort_multipart_upload.is_some() && b.abort_multipart_upload.is_some())
            || (a.expiration.is_some() && b.expiration.is_some()))
}

fn check_days(name: &str, days: i64) -> Result<(), ServiceError> {
    if days <= 0 {
        return Err(invalid(
            name,
            &days.to_string(),
            "Days must be a positive integer.",
        ));
    }
    Ok(())
}

fn check_date(name: &str, date: &str) -> Result<(), ServiceError> {
    if !is_midnight_date(date) {
        return Err(invalid(
            name,
            date,
            "CreatedBeforeDate must be a date at midnight UTC (yyyy-MM-ddT00:00:00.000Z).",
        ));
    }
    Ok(())
}

/// Days or a date, exactly one.
fn check_when(
    element: &str,
    days: Option<i64>,
    date: Option<&str>,
    others: usize,
) -> Result<(), ServiceError> {
    if usize::from(days.is_some()) + usize::from(date.is_some()) + others != 1 {
        return Err(errors::malformed_xml(&format!(
            "{element} takes exactly one of Days or CreatedBeforeDate"
        )));
    }
    if let Some(days) = days {
        check_days(&format!("{element}.Days"), days)?;
    }
    if let Some(date) = date {
        check_date(&format!("{element}.CreatedBeforeDate"), date)?;
    }
    Ok(())
}

fn validate_rule(rule: &LifecycleRule) -> Result<(), ServiceError> {
    if let Some(id) = &rule.id
        && id.len() > MAX_ID_BYTES
    {
        return Err(invalid("ID", id, "Rule ID is longer than 255 bytes."));
    }
    if rule.status != STATUS_ENABLED && rule.status != STATUS_DISABLED {
        return Err(errors::malformed_xml("Status must be Enabled or Disabled"));
    }
    if rule.expiration.is_none()
        && rule.transitions.is_empty()
        && rule.abort_multipart_upload.is_none()
        && rule.noncurrent_version_expiration.is_none()
        && rule.noncurrent_version_transitions.is_empty()
    {
        return Err(errors::malformed_xml("a Rule needs at least one action"));
    }
    if let Some(expiration) = &rule.expiration {
        check_when(
            "Expiration",
            expiration.days,
            expiration.created_before_date.as_deref(),
            usize::from(expiration.expired_object_delete_marker.is_some())
                + usize::from(expiration.date.is_some()),
        )?;
        if let Some(date) = &expiration.date {
            check_date("Expiration.Date", date)?;
        }
    }
    for transition in &rule.transitions {
        check_when(
            "Transition",
            transition.days,
            transition.created_before_date.as_deref(),
            0,
        )?;
        if !STORAGE_CLASSES.contains(&transition.storage_class.as_str()) {
            return Err(invalid(
                "StorageClass",
                &transition.storage_class,
                "Transition names an unknown storage class.",
            ));
        }
    }
    if let Some(abort) = &rule.abort_multipart_upload {
        check_when(
            "AbortMultipartUpload",
            abort.days,
            abort.created_before_date.as_deref(),
            0,
        )?;
    }
    if let Some(expiration) = &rule.noncurrent_version_expiration {
        check_days(
            "NoncurrentVersionExpiration.NoncurrentDays",
            expiration.noncurrent_days,
        )?;
    }
    for transition in &rule.noncurrent_version_transitions {
        check_days(
            "NoncurrentVersionTransition.NoncurrentDays",
            transition.noncurrent_days,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, prefix: &str, days: i64) -> LifecycleRule {
        LifecycleRule::abort_uploads_after(id, prefix, days)
    }

    fn code(config: LifecycleConfiguration) -> String {
        validate(&config)
            .map(|()| "ok".to_owned())
            .unwrap_or_else(|e| e.code)
    }

    #[test]
    fn checks_as_oss_does() {
        let ok = |rules| code(LifecycleConfiguration { rules });
        assert_eq!(ok(vec![rule("a", "tmp/", 7)]), "ok");
        assert_eq!(ok(vec![]), "MalformedXML");
        assert_eq!(ok(vec![rule("a", "tmp/", 0)]), "InvalidArgument");
        assert_eq!(
            ok(vec![rule("a", "x/", 1), rule("a", "y/", 1)]),
            "InvalidArgument"
        );
        assert_eq!(
            ok(vec![rule("a", "x/", 1), rule("b", "x/y", 1)]),
            "InvalidArgument"
        );
        assert_eq!(ok(vec![rule("a", "x/", 1), rule("b", "y/", 1)]), "ok");
        let many = (0..=MAX_RULES).map(|n| rule(&n.to_string(), &format!("{n}/"), 1));
        assert_eq!(ok(many.collect()), "InvalidArgument");
        let mut both = rule("a", "", 1);
        both.abort_multipart_upload
            .as_mut()
            .unwrap()
            .created_before_date = Some("2025-01-01T00:00:00.000Z".into());
        assert_eq!(ok(vec![both]), "MalformedXML");
        let mut status = rule("a", "", 1);
        status.status = "On".into();
        assert_eq!(ok(vec![status]), "MalformedXML");
    }
}
