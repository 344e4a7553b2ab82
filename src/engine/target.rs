//! Targets: where uploads go. A target is one endpoint with the credentials to use there
//! (a profile, or the environment), and the engine holds one client per target, so jobs
//! for several accounts and regions run side by side; a job keeps its target for life.

use std::fmt;

use crate::protocol::OssClient;

/// A target a front end hands the engine.
#[derive(Clone)]
pub struct Target {
    /// Names the target in sessions, jobs and transfer ids. The same target must get the
    /// same label in every run and front end: [`crate::config::Target::label`] makes it.
    pub label: String,
    /// The configuration profile it came from, shown to the user and stored with jobs as
    /// where the credentials are found (never the secret itself).
    pub profile: Option<String>,
    pub client: OssClient,
}

impl Target {
    pub fn new(label: impl Into<String>, profile: Option<String>, client: OssClient) -> Self {
        Self {
            label: label.into(),
            profile,
            client,
        }
    }

    /// The endpoint URL requests are sent to.
    pub fn endpoint(&self) -> &str {
        &self.client.config().endpoint
    }

    /// Whether a session or job recorded under `recorded` belongs to this target.
    pub fn owns(&self, recorded: &str) -> bool {
        recorded_under(&self.label, self.endpoint(), recorded)
    }
}

/// Whether something recorded under `recorded` belongs to the target labelled `label` at
/// `endpoint`: its label, or its bare endpoint URL, which is how sessions and jobs were
/// named before targets had labels of their own.
pub fn recorded_under(label: &str, endpoint: &str, recorded: &str) -> bool {
    recorded == label || recorded == endpoint
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("label", &self.label)
            .field("profile", &self.profile)
            .field("endpoint", &self.endpoint())
            .finish_non_exhaustive()
    }
}
