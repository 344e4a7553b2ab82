//! Short-lived STS credentials for tests: a [`TokenCommand`] is a shell script handing out
//! prepared temporary keys one per run (counting its runs in a file), each registered
//! with the server and expiring an hour apart on the server's clock, so a test moves the
//! clock instead of waiting.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ossup::config::credential_process::ProcessCredentials;
use ossup::protocol::client::ClientConfig;
use ossup::protocol::{CredentialsProvider, OssClient};
use ossup::server::RunningServer;
use ossup::server::auth::TemporaryKey;
use tempfile::TempDir;

/// How long each prepared token lives, on the server's clock.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The n-th temporary key (from 1), expiring at `expires_at`.
pub fn temporary_key(n: usize, expires_at: SystemTime) -> TemporaryKey {
    TemporaryKey {
        access_key_id: format!("STS.TestKey{n}"),
        access_key_secret: format!("sts-secret-{n}-SecretValue"),
        security_token: format!("sts-token-{n}-TokenValue"),
        expires_at: Some(expires_at),
    }
}

/// A credentials command and the keys it hands out.
pub struct TokenCommand {
    dir: TempDir,
    pub keys: Vec<TemporaryKey>,
}

impl TokenCommand {
    /// `count` keys, the n-th expiring n hours after the server's now, all registered
    /// with `server`; the script prints the next one on each run.
    pub fn new(server: &RunningServer, count: usize) -> Self {
        let dir = tempfile::tempdir().expect("command dir");
        let start = server.clock().now();
        let keys: Vec<TemporaryKey> = (1..=count)
            .map(|n| temporary_key(n, start + TOKEN_LIFETIME * n as u32))
            .collect();
        let mut lines = String::new();
        for key in &keys {
            server.add_sts_token(key.clone());
            let expiration = time::OffsetDateTime::from(key.expires_at.expect("expires"))
                .format(&time::format_description::well_known::Rfc3339)
                .expect("RFC 3339");
            lines.push_str(
                &serde_json::json!({
                    "mode": "StsToken",
                    "access_key_id": key.access_key_id,
                    "access_key_secret": key.access_key_secret,
                    "sts_token": key.security_token,
                    "expiration": expiration,
                })
                .to_string(),
            );
            lines.push('\n');
        }
        std::fs::write(dir.path().join("tokens.jsonl"), lines).expect("tokens");
        let script = dir.path().join("get-sts.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nset -e\ncd \"$(dirname \"$0\")\"\nn=$(cat runs 2>/dev/null || echo 0)\nn=$((n + 1))\necho $n > runs\nsed -n \"${n}p\" tokens.jsonl\n",
        )
        .expect("script");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        Self { dir, keys }
    }

    /// The command line a profile's `process_command` would hold.
    pub fn command_line(&self) -> String {
        format!("'{}'", self.script().display())
    }

    fn script(&self) -> PathBuf {
        self.dir.path().join("get-sts.sh")
    }

    /// How many times the command has run.
    pub fn runs(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("runs"))
            .map(|text| text.trim().parse().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Credentials from the command, with expiry measured on the server's clock as a
    /// client whose clock agrees with the server's would.
    pub fn provider_on_server_clock(&self, server: &RunningServer) -> CredentialsProvider {
        let clock = server.clock();
        CredentialsProvider::refreshing_with_clock(
            Arc::new(ProcessCredentials::new(self.command_line())),
            Arc::new(move || clock.now()),
        )
    }

    /// Credentials from the command, with expiry measured on the system clock: such a
    /// client learns that a token expired only when the server refuses it.
    pub fn provider_on_system_clock(&self) -> CredentialsProvider {
        CredentialsProvider::refreshing(Arc::new(ProcessCredentials::new(self.command_line())))
    }

    /// A client for `endpoint` signing with the command's credentials (10 s I/O timeout).
    pub fn client(&self, endpoint: &str, provider: CredentialsProvider) -> OssClient {
        let mut config = ClientConfig::new(endpoint, provider);
        config.io_timeout = Duration::from_secs(10);
        OssClient::new(config).expect("the client builds")
    }
}
