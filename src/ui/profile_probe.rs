//! What the settings view asks of the profile being edited, with its unsaved values:
//! "Test connection" (does the endpoint answer, is the key valid, does the bucket exist,
//! and which of list uploads / upload / abort the key may do) and the buckets its key
//! can list for the bucket picker. Run off the UI thread; nothing here draws.

use crate::config::{self, ConfigFile, EnvVars, Overrides};
use crate::engine::retry::ConnectFailure;
use crate::protocol::client::{ClientConfig, InitiateOptions, ListUploadsParams};
use crate::protocol::error::code;
use crate::protocol::{OssClient, OssError};

use super::views::settings::SettingsForm;

/// The key the upload probe starts (and at once aborts) a multipart upload of: its name
/// says what it is to whoever finds it left behind.
pub const PROBE_KEY: &str = "ossup-connection-test/probe-upload-safe-to-abort";

/// Most ListBuckets pages the picker reads (1000 buckets a page).
const MAX_BUCKET_PAGES: usize = 10;

/// The client settings the form describes, as they would be used once saved. Refuses an
/// invalid form with the sentence a save would show.
pub fn client_config_of(
    form: &SettingsForm,
    config: &ConfigFile,
    env: &EnvVars,
) -> Result<(ClientConfig, String), String> {
    if !form.profile_touched() {
        return Err("Fill in a profile first (name, endpoint and key).".into());
    }
    let (config, named) = form.to_config(config)?;
    let overrides = Overrides {
        profile: named,
        ..Overrides::default()
    };
    let target = config::resolve(&config, &overrides, env).map_err(|e| e.to_string())?;
    Ok((target.client, form.profile.bucket.trim().to_owned()))
}

/// One finding of a connection test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Yes(String),
    No(String),
    /// Not asked (an earlier step failed) or not answerable with this key.
    Unknown(String),
}

impl Finding {
    pub fn text(&self) -> &str {
        match self {
            Finding::Yes(text) | Finding::No(text) | Finding::Unknown(text) => text,
        }
    }
}

/// What a connection test found, one finding per question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionReport {
    pub endpoint: Finding,
    pub credentials: Finding,
    pub bucket: Finding,
    pub list_uploads: Finding,
    pub upload: Finding,
    pub abort: Finding,
}

impl ConnectionReport {
    fn all_unknown(why: &str) -> Self {
        let unknown = || Finding::Unknown(why.to_owned());
        Self {
            endpoint: unknown(),
            credentials: unknown(),
            bucket: unknown(),
            list_uploads: unknown(),
            upload: unknown(),
            abort: unknown(),
        }
    }
}

/// The key was refused as a key (unknown id, wrong secret), not for what it asked, or
/// the command that issues it gave none.
fn is_bad_key(error: &OssError) -> bool {
    error.is_code(code::INVALID_ACCESS_KEY_ID)
        || error.is_code(code::SIGNATURE_DOES_NOT_MATCH)
        || matches!(error, OssError::Credentials(_))
}

/// Something answered (an OSS error, or a body we could not use), as opposed to no
/// answer at all.
fn answered(error: &OssError) -> bool {
    !matches!(error, OssError::Transport { .. })
}

/// The network-level reason a request got no answer, in words.
fn unreachable_reason(error: &OssError) -> String {
    match ConnectFailure::of(error) {
        Some(failure) => failure.to_string(),
        None => error.to_string(),
    }
}

/// Asks the endpoint, in order: ListBuckets (answers whether the endpoint is reached and
/// the key is valid, whatever the key may do: AccessDenied still proves the signature),
/// then for the bucket ListMultipartUploads with max-uploads=1, then an upload probe.
///
/// The upload probe writes no user data: it starts a multipart upload of [`PROBE_KEY`]
/// and aborts that same upload id at once. A PutObject would leave (or overwrite) an
/// object; an initiated-then-aborted upload leaves nothing, and only when the key may
/// not abort is the probe upload left, which the report then says with how to remove it.
pub async fn test_connection(client: &OssClient, bucket: &str) -> ConnectionReport {
    let mut report = ConnectionReport::all_unknown("not checked");
    match client.list_buckets(None, None, Some(1)).await {
        Ok(_) => {
            report.endpoint = Finding::Yes("answers".into());
            report.credentials = Finding::Yes("valid".into());
        }
        Err(error) if !answered(&error) => {
            report.endpoint = Finding::No(format!("no answer: {}", unreachable_reason(&error)));
            return ConnectionReport {
                endpoint: report.endpoint,
                ..ConnectionReport::all_unknown("not checked: the endpoint did not answer")
            };
        }
        Err(error) if is_bad_key(&error) => {
            report.endpoint = Finding::Yes("answers".into());
            report.credentials = Finding::No(format!("not valid: {error}"));
            let rest = ConnectionReport::all_unknown("not checked: the key is not valid");
            return ConnectionReport {
                endpoint: report.endpoint,
                credentials: report.credentials,
                ..rest
            };
        }
        Err(error) if error.is_code(code::ACCESS_DENIED) => {
            report.endpoint = Finding::Yes("answers".into());
            report.credentials = Finding::Yes("valid (it may not list buckets)".into());
        }
        Err(error) => {
            // Another answer (a server without ListBuckets): the bucket requests decide.
            report.endpoint = Finding::Yes("answers".into());
            report.credentials = Finding::Unknown(format!("ListBuckets answered {error}"));
        }
    }
    if bucket.is_empty() {
        let none = || Finding::Unknown("not checked: no bucket entered".into());
        report.bucket = none();
        report.list_uploads = none();
        report.upload = none();
        report.abort = none();
        return report;
    }

    let params = ListUploadsParams {
        max_uploads: Some(1),
        ..ListUploadsParams::default()
    };
    match client.list_multipart_uploads(bucket, &params).await {
        Ok(_) => {
            report.bucket = Finding::Yes(format!("{bucket} exists"));
            report.list_uploads = Finding::Yes("yes".into());
        }
        Err(error) => {
            if let Some(stop) = bucket_stop(&mut report, bucket, &error) {
                return stop;
            }
            report.list_uploads = if error.is_code(code::ACCESS_DENIED) {
                Finding::No("no (AccessDenied)".into())
            } else {
                Finding::Unknown(format!("could not tell: {error}"))
            };
        }
    }

    let upload_id = match client
        .initiate_multipart_upload(bucket, PROBE_KEY, &InitiateOptions::default())
        .await
    {
        Ok(initiated) => {
            report.bucket = Finding::Yes(format!("{bucket} exists"));
            report.upload = Finding::Yes("yes".into());
            initiated.upload_id
        }
        Err(error) => {
            if let Some(stop) = bucket_stop(&mut report, bucket, &error) {
                return stop;
            }
            if error.is_code(code::ACCESS_DENIED) {
                report.upload = Finding::No("no (AccessDenied)".into());
                report.abort = Finding::Unknown(
                    "not checked: nothing to abort when the key may not upload".into(),
                );
            } else {
                report.upload = Finding::Unknown(format!("could not tell: {error}"));
            }
            if matches!(report.bucket, Finding::Unknown(_)) {
                report.bucket = Finding::Unknown(
                    "could not tell: the key may neither list uploads nor upload there".into(),
                );
            }
            return report;
        }
    };
    report.abort = match client
        .abort_multipart_upload(bucket, PROBE_KEY, &upload_id)
        .await
    {
        Ok(()) => Finding::Yes("yes".into()),
        Err(error) if error.is_code(code::ACCESS_DENIED) => Finding::No(format!(
            "no (AccessDenied), so the probe upload of {PROBE_KEY} \
             (upload id {upload_id}) is left in {bucket}; remove it under In-progress \
             uploads with a key that may abort, or let a lifecycle rule expire it"
        )),
        Err(error) => Finding::Unknown(format!(
            "could not tell: {error}; the probe upload of {PROBE_KEY} (upload id \
             {upload_id}) may be left in {bucket}"
        )),
    };
    report
}

/// An answer about the bucket that ends the test (no such bucket, a bad key, no answer),
/// as the finished report; `None` lets the test go on.
fn bucket_stop(
    report: &mut ConnectionReport,
    bucket: &str,
    error: &OssError,
) -> Option<ConnectionReport> {
    let why = if error.is_code(code::NO_SUCH_BUCKET) {
        report.bucket = Finding::No(format!("{bucket} does not exist (NoSuchBucket)"));
        "not checked: the bucket does not exist"
    } else if is_bad_key(error) {
        report.credentials = Finding::No(format!("not valid: {error}"));
        "not checked: the key is not valid"
    } else if !answered(error) {
        report.bucket = Finding::Unknown(format!("no answer: {}", unreachable_reason(error)));
        "not checked: the bucket's requests got no answer"
    } else {
        return None;
    };
    let unknown = || Finding::Unknown(why.to_owned());
    Some(ConnectionReport {
        endpoint: report.endpoint.clone(),
        credentials: report.credentials.clone(),
        bucket: report.bucket.clone(),
        list_uploads: unknown(),
        upload: unknown(),
        abort: unknown(),
    })
}

/// The names of the buckets the key can list, sorted; a key that may not list buckets
/// gets a sentence saying to type the name instead.
pub async fn bucket_names(client: &OssClient) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_BUCKET_PAGES {
        let page = client
            .list_buckets(None, marker.as_deref(), Some(1000))
            .await
            .map_err(|error| {
                if error.is_code(code::ACCESS_DENIED) {
                    "This key may not list buckets (AccessDenied): type the bucket name instead."
                        .to_owned()
                } else if !answered(&error) {
                    format!("No answer: {}.", unreachable_reason(&error))
                } else {
                    format!("Could not list buckets: {error}")
                }
            })?;
        names.extend(page.buckets.buckets.into_iter().map(|b| b.name));
        match page.is_truncated.then_some(page.next_marker) {
            Some(next) if !next.is_empty() && marker.as_deref() != Some(next.as_str()) => {
                marker = Some(next)
            }
            _ => break,
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}
