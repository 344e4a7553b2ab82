//! Checks of the settings form, field by field, run as the user types: every problem at
//! once, each shown beside its field and worded with the field's visible name (never a
//! config-file path like `profiles.work.endpoint`).
//!
//! Each field has one check here; the rules themselves stay where they live
//! ([`crate::config`], [`Tuning::validate`], the bucket name rules), so the form and the
//! config file can never disagree.

use std::collections::BTreeMap;

use crate::config::units::parse_bytes;
use crate::config::{self, ConfigFile, Tuning};
use crate::engine::tuning::validate_storage_class;
use crate::protocol::object_key::validate_bucket_name;

use super::settings::{CredentialSource, ProfileForm, TuningForm};

/// A field of the settings form that can be wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    ProfileName,
    Endpoint,
    Region,
    Bucket,
    AccessKeyId,
    AccessKeySecret,
    PartSize,
    ParallelParts,
    ConcurrentTransfers,
    BandwidthLimit,
    StorageClass,
}

impl Field {
    /// The name the form shows for the field.
    pub fn label(self) -> &'static str {
        match self {
            Field::ProfileName => "Profile name",
            Field::Endpoint => "Endpoint",
            Field::Region => "Region",
            Field::Bucket => "Bucket",
            Field::AccessKeyId => "Access key id",
            Field::AccessKeySecret => "Access key secret",
            Field::PartSize => "Part size",
            Field::ParallelParts => "Parallel parts per file",
            Field::ConcurrentTransfers => "Concurrent transfers",
            Field::BandwidthLimit => "Bandwidth limit per second",
            Field::StorageClass => "Storage class",
        }
    }
}

/// What is wrong with the form, per field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<Field, String>);

impl FieldErrors {
    pub fn get(&self, field: Field) -> Option<&str> {
        self.0.get(&field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every problem in one message: "Endpoint: …; Part size: …".
    pub fn sentence(&self) -> String {
        self.0
            .iter()
            .map(|(field, message)| format!("{}: {message}", field.label()))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn record(&mut self, field: Field, result: Result<(), String>) {
        if let Err(message) = result {
            self.0.insert(field, message);
        }
    }

    fn merge(&mut self, other: FieldErrors) {
        self.0.extend(other.0);
    }
}

/// Checks the profile being typed. `editing` is the saved name it was opened from.
pub fn check_profile(
    form: &ProfileForm,
    editing: Option<&str>,
    config: &ConfigFile,
) -> FieldErrors {
    let mut errors = FieldErrors::default();
    let name = form.name.trim();
    errors.record(
        Field::ProfileName,
        check_profile_name(name, editing, config),
    );
    errors.record(Field::Endpoint, check_endpoint(&form.endpoint));
    errors.record(
        Field::Region,
        optional(&form.region, config::validate_region),
    );
    errors.record(
        Field::Bucket,
        optional(&form.bucket, |b| {
            validate_bucket_name(b).map_err(|e| e.to_string())
        }),
    );
    if form.credentials == CredentialSource::Entered {
        let id = form.access_key_id.trim();
        errors.record(Field::AccessKeyId, check_key_id(&form.access_key_id));
        let previous = editing.and_then(|name| config.profiles.get(name));
        let stored = previous
            .filter(|p| p.access_key_id.as_deref() == Some(id))
            .is_some_and(|p| p.access_key_secret.is_some());
        if form.new_secret.is_empty() && !stored {
            errors.record(
                Field::AccessKeySecret,
                Err("enter the secret for this access key id".into()),
            );
        }
    }
    errors
}

/// Checks the tuning being typed; each value on its own, against the engine's own rules.
pub fn check_tuning(form: &TuningForm) -> FieldErrors {
    let mut errors = FieldErrors::default();
    errors.record(
        Field::PartSize,
        parse_bytes(&form.part_size)
            .map_err(|e| e.to_string())
            .and_then(|size| {
                let mut tuning = Tuning::default();
                tuning.set_part_size(size);
                tuning_rule(&tuning, "part size")
            }),
    );
    let defaults = Tuning::default();
    errors.record(
        Field::ParallelParts,
        whole_number(&form.parallel_parts).and_then(|n| {
            let mut tuning = Tuning::default();
            tuning.set_parallelism(n, defaults.max_concurrent_transfers);
            tuning_rule(&tuning, "parallel parts")
        }),
    );
    errors.record(
        Field::ConcurrentTransfers,
        whole_number(&form.concurrent_transfers).and_then(|n| {
            let mut tuning = Tuning::default();
            tuning.set_parallelism(defaults.parallel_parts_per_transfer, n);
            tuning_rule(&tuning, "concurrent transfers")
        }),
    );
    errors.record(
        Field::BandwidthLimit,
        optional(&form.bandwidth_limit, |text| {
            let limit = parse_bytes(text).map_err(|e| e.to_string())?;
            let tuning = Tuning {
                bandwidth_limit_bytes_per_sec: Some(limit),
                ..Tuning::default()
            };
            tuning_rule(&tuning, "bandwidth limit")
        }),
    );
    errors.record(
        Field::StorageClass,
        optional(&form.storage_class, validate_storage_class),
    );
    errors
}

/// Both checks; the profile only when one is being typed or edited.
pub fn check_form(
    profile: Option<(&ProfileForm, Option<&str>)>,
    tuning: &TuningForm,
    config: &ConfigFile,
) -> FieldErrors {
    let mut errors = check_tuning(tuning);
    if let Some((form, editing)) = profile {
        errors.merge(check_profile(form, editing, config));
    }
    errors
}

fn check_profile_name(
    name: &str,
    editing: Option<&str>,
    config: &ConfigFile,
) -> Result<(), String> {
    if name.is_empty() {
        return Err("give the profile a name".into());
    }
    config::validate_profile_name(name).map_err(|e| match e {
        config::ConfigError::Invalid { message, .. } => message,
        other => other.to_string(),
    })?;
    if editing != Some(name) && config.profiles.contains_key(name) {
        return Err(format!(
            "a profile named {name:?} exists already; choose another name, or edit that one"
        ));
    }
    Ok(())
}

fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let endpoint = endpoint.trim().trim_end_matches('/');
    if endpoint.is_empty() {
        return Err("enter the endpoint, like https://oss-cn-hangzhou.aliyuncs.com".into());
    }
    config::validate_endpoint(endpoint)
}

fn check_key_id(id: &str) -> Result<(), String> {
    if id.trim().is_empty() {
        return Err("enter it, or take credentials from the environment".into());
    }
    Ok(())
}

/// An empty field is fine; otherwise `check` decides.
fn optional(text: &str, check: impl FnOnce(&str) -> Result<(), String>) -> Result<(), String> {
    match text.trim() {
        "" => Ok(()),
        text => check(text),
    }
}

fn whole_number(text: &str) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .map_err(|_| format!("\"{}\" is not a whole number", text.trim()))
}

/// The engine's verdict on `tuning`, without the `field: ` it starts with.
fn tuning_rule(tuning: &Tuning, field: &str) -> Result<(), String> {
    tuning.validate().map_err(|message| {
        message
            .strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(": "))
            .map(str::to_owned)
            .unwrap_or(message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_tuning_field_is_reported_at_once() {
        let form = TuningForm {
            part_size: "50KiB".into(),
            parallel_parts: "0".into(),
            concurrent_transfers: "two".into(),
            bandwidth_limit: "10B".into(),
            storage_class: "Cold".into(),
            ..TuningForm::from_tuning(&Tuning::default())
        };
        let errors = check_tuning(&form);
        for field in [
            Field::PartSize,
            Field::ParallelParts,
            Field::ConcurrentTransfers,
            Field::BandwidthLimit,
            Field::StorageClass,
        ] {
            assert!(errors.get(field).is_some(), "{field:?} not reported");
        }
        assert!(
            !errors
                .get(Field::PartSize)
                .unwrap()
                .starts_with("part size")
        );
        assert!(check_tuning(&TuningForm::from_tuning(&Tuning::default())).is_empty());
    }

    #[test]
    fn a_profile_name_taken_by_another_profile_is_refused() {
        let mut config = ConfigFile::default();
        config.profiles.insert(
            "work".into(),
            config::Profile {
                endpoint: "https://oss-cn-hangzhou.aliyuncs.com".into(),
                ..config::Profile::default()
            },
        );
        let form = ProfileForm {
            name: "work".into(),
            endpoint: "https://oss-cn-hangzhou.aliyuncs.com".into(),
            ..ProfileForm::default()
        };
        let errors = check_profile(&form, None, &config);
        assert!(
            errors
                .get(Field::ProfileName)
                .unwrap()
                .contains("exists already")
        );
        assert!(check_profile(&form, Some("work"), &config).is_empty());
    }
}
