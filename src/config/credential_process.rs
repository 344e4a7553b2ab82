//! Credentials from an external command, as the Alibaba Cloud CLI's `External` mode runs
//! its `process_command`: the command prints one JSON object and ossup signs with it until
//! shortly before it expires, then runs the command again (see
//! [`CredentialsProvider`](crate::protocol::CredentialsProvider)).
//!
//! The command line is split into words (quotes group them) and run directly, never
//! through a shell. What it prints is read like the Alibaba CLI reads it:
//!
//! ```json
//! {"mode": "StsToken", "access_key_id": "STS.…", "access_key_secret": "…",
//!  "sts_token": "…", "expiration": "2026-09-03T12:00:00Z"}
//! ```
//!
//! `mode` is `AK` (no token) or `StsToken`; the expiry is `expiration` (RFC 3339) or
//! `sts_expiration` (Unix seconds), and may be left out for keys that do not expire. The
//! names an STS answer uses (`AccessKeyId`, `AccessKeySecret`, `SecurityToken`,
//! `Expiration`) are accepted too. Failures are worded from the exit status, the first
//! line of stderr and parse positions: the output itself, which holds the secret, is
//! never repeated.

use std::process::Stdio;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::protocol::Credentials;
use crate::protocol::credentials_provider::{CredentialsSource, FetchFuture, IssuedCredentials};

/// Longest a command may take before it is stopped and counted as failed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Most characters of the command's stderr quoted in an error.
const STDERR_SUMMARY_CHARS: usize = 200;

/// An external command that issues credentials.
#[derive(Debug, Clone)]
pub struct ProcessCredentials {
    /// The command line as configured.
    command: String,
    timeout: Duration,
}

impl ProcessCredentials {
    pub fn new(command: impl Into<String>) -> Self {
        Self {
            command: command.into(),
            timeout: COMMAND_TIMEOUT,
        }
    }

    async fn run(&self) -> Result<IssuedCredentials, String> {
        let words = command_words(&self.command)?;
        let (program, args) = words.split_first().ok_or("the command is empty")?;
        let child = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("it could not be started: {error}"))?;
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| format!("it did not finish within {:?}", self.timeout))?
            .map_err(|error| format!("its output could not be read: {error}"))?;
        if !output.status.success() {
            let status = match output.status.code() {
                Some(code) => format!("status {code}"),
                None => "a signal".to_owned(),
            };
            return Err(match stderr_summary(&output.stderr) {
                Some(said) => format!("it exited with {status}: {said}"),
                None => format!("it exited with {status}"),
            });
        }
        parse_output(&output.stdout)
    }
}

impl CredentialsSource for ProcessCredentials {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(self.run())
    }

    /// Names the program only: arguments may carry things not meant for logs.
    fn describe(&self) -> String {
        let program = command_words(&self.command)
            .ok()
            .and_then(|words| words.into_iter().next())
            .unwrap_or_default();
        format!("the command `{program}`")
    }
}

/// The words of a command line: split at whitespace, with single or double quotes
/// grouping words that hold spaces (`"/opt/my tools/get-sts" --role 'team a'`).
pub fn command_words(command: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match quote {
            Some(open) if c == open => quote = None,
            Some(_) => word.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("the command has a quote that is never closed".to_owned());
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("the command is empty".to_owned());
    }
    Ok(words)
}

/// The first non-empty line of stderr, shortened.
fn stderr_summary(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().map(str::trim).find(|line| !line.is_empty())?;
    let mut summary: String = line.chars().take(STDERR_SUMMARY_CHARS).collect();
    if summary.len() < line.len() {
        summary.push('…');
    }
    Some(summary)
}

/// What the command prints; only these fields are read.
#[derive(Deserialize)]
struct ProcessOutput {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default, alias = "AccessKeyId")]
    access_key_id: Option<String>,
    #[serde(default, alias = "AccessKeySecret")]
    access_key_secret: Option<String>,
    #[serde(default, alias = "SecurityToken", alias = "security_token")]
    sts_token: Option<String>,
    #[serde(default, alias = "Expiration")]
    expiration: Option<String>,
    #[serde(default)]
    sts_expiration: Option<i64>,
}

/// Reads the command's standard output.
pub fn parse_output(stdout: &[u8]) -> Result<IssuedCredentials, String> {
    let output: ProcessOutput = serde_json::from_slice(stdout).map_err(|error| {
        // serde's message may quote the value it stumbled on: give the place only.
        let what = match error.classify() {
            serde_json::error::Category::Data => "a field of the wrong type",
            serde_json::error::Category::Eof if stdout.iter().all(u8::is_ascii_whitespace) => {
                return "it printed nothing".to_owned();
            }
            _ => "text that is not JSON",
        };
        format!(
            "its output is not the JSON object expected ({what} at line {} column {})",
            error.line(),
            error.column()
        )
    })?;
    let with_token = match output.mode.as_deref() {
        Some("AK") => false,
        Some("StsToken") => true,
        None => output.sts_token.is_some(),
        Some(other) => {
            return Err(format!(
                "its output has mode {other:?}; only AK and StsToken are understood"
            ));
        }
    };
    let present = |value: Option<String>, name: &str| {
        value
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| format!("its output has no {name}"))
    };
    let id = present(output.access_key_id, "access_key_id")?;
    let secret = present(output.access_key_secret, "access_key_secret")?;
    let mut credentials = Credentials::new(id.trim(), secret);
    if with_token {
        credentials = credentials.with_security_token(present(output.sts_token, "sts_token")?);
    }
    let expires_at = match (output.expiration, output.sts_expiration) {
        (Some(text), _) => Some(parse_expiration(&text)?),
        (None, Some(unix)) => Some(
            u64::try_from(unix)
                .map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
                .map_err(|_| "its sts_expiration is before 1970".to_owned())?,
        ),
        (None, None) => None,
    };
    Ok(IssuedCredentials {
        credentials,
        expires_at,
    })
}

fn parse_expiration(text: &str) -> Result<SystemTime, String> {
    let parsed =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                format!(
                    "its expiration {text:?} is not an RFC 3339 time such as 2026-09-03T12:00:00Z"
                )
            })?;
    let nanos = parsed.unix_timestamp_nanos();
    let since_epoch = u64::try_from(nanos / 1_000_000)
        .map_err(|_| format!("its expiration {text:?} is before 1970"))?;
    Ok(SystemTime::UNIX_EPOCH + Duration::from_millis(since_epoch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_at_spaces_and_group_in_quotes() {
        assert_eq!(
            command_words(r#""/opt/my tools/get-sts" --role 'team a'  x"#).unwrap(),
            ["/opt/my tools/get-sts", "--role", "team a", "x"]
        );
        assert_eq!(command_words("a ''").unwrap(), ["a", ""]);
        assert!(command_words("  ").is_err());
        assert!(command_words("get 'open").is_err());
    }

    #[test]
    fn the_alibaba_cli_output_is_read() {
        let issued = parse_output(
            br#"{"mode":"StsToken","access_key_id":"STS.ID","access_key_secret":"SecretValue",
                 "sts_token":"TokenValue","expiration":"2026-09-03T12:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(issued.credentials.access_key_id(), "STS.ID");
        assert_eq!(issued.credentials.security_token(), Some("TokenValue"));
        assert_eq!(
            issued.expires_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_788_436_800))
        );
        let ak = parse_output(br#"{"mode":"AK","access_key_id":"LTAI","access_key_secret":"s"}"#)
            .unwrap();
        assert_eq!(ak.credentials.security_token(), None);
        assert_eq!(ak.expires_at, None);
        let sts_names = parse_output(
            br#"{"AccessKeyId":"STS.X","AccessKeySecret":"s","SecurityToken":"t","Expiration":"2026-09-03T12:00:00.250Z"}"#,
        )
        .unwrap();
        assert_eq!(sts_names.credentials.security_token(), Some("t"));
        let unix = parse_output(
            br#"{"mode":"StsToken","access_key_id":"STS.X","access_key_secret":"s","sts_token":"t","sts_expiration":1788436800}"#,
        )
        .unwrap();
        assert_eq!(unix.expires_at, issued.expires_at);
    }

    #[test]
    fn bad_output_is_explained_without_repeating_it() {
        let cases: [(&[u8], &str); 6] = [
            (b"", "printed nothing"),
            (b"SecretValue", "not JSON"),
            (
                br#"{"access_key_id":"ID","access_key_secret":"SecretValue","sts_expiration":"SecretValue"}"#,
                "wrong type",
            ),
            (br#"{"access_key_id":"ID"}"#, "no access_key_secret"),
            (
                br#"{"mode":"StsToken","access_key_id":"ID","access_key_secret":"SecretValue"}"#,
                "no sts_token",
            ),
            (
                br#"{"access_key_id":"ID","access_key_secret":"SecretValue","expiration":"soon"}"#,
                "RFC 3339",
            ),
        ];
        for (output, expected) in cases {
            let error = parse_output(output).unwrap_err();
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains("SecretValue"), "{error}");
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_failing_command_is_summarised_from_its_stderr() {
        let failing = ProcessCredentials::new(
            "sh -c 'echo SecretValue; echo \"  \" >&2; echo \"not signed in\" >&2; exit 3'",
        );
        let error = failing.run().await.unwrap_err();
        assert_eq!(error, "it exited with status 3: not signed in");
        assert_eq!(failing.describe(), "the command `sh`");
        let missing = ProcessCredentials::new("/nonexistent/get-sts --x");
        let error = missing.run().await.unwrap_err();
        assert!(error.starts_with("it could not be started"), "{error}");
        let mut slow = ProcessCredentials::new("sleep 5");
        slow.timeout = Duration::from_millis(50);
        assert!(slow.run().await.unwrap_err().contains("did not finish"));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_command_that_prints_keys_gives_them() {
        let command = ProcessCredentials::new(
            r#"echo '{"mode":"AK","access_key_id":"LTAI","access_key_secret":"s"}'"#,
        );
        let issued = command.run().await.unwrap();
        assert_eq!(issued.credentials.access_key_id(), "LTAI");
    }
}
