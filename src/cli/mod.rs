//! The headless front end: `ossup upload`, `resume`, `sessions` and `uploads …`, driving
//! the same engine as the window, with terminal progress bars; `profiles import` edits
//! the config file.
//!
//! Exit codes: 0 success, 1 some transfers failed, 2 usage or configuration error (nothing
//! was sent), 130 interrupted by Ctrl-C, SIGTERM or SIGHUP (sessions saved; `ossup resume --all` continues).

pub mod args;
pub mod error;
mod jobs;
pub mod location;
mod profiles;
mod progress;
pub mod transfers;
mod uploads;

use std::future::Future;
use std::time::Duration;

use crate::config::units::{format_bytes, parse_duration};
use crate::config::{
    self, AppPaths, ConfigError, ConfigFile, EnvVars, Overrides, Target, TargetOrigin,
};
use crate::engine::remote_uploads;
use crate::engine::retry::Retrier;
use crate::engine::session_store::{CorruptSession, SessionStore};
use crate::engine::store::JobId;
use crate::engine::{Engine, EngineCommand, EngineConfig, EngineHandle, RetryPolicy, Tuning};
use crate::protocol::ObjectRef;
use crate::protocol::OssClient;

pub use args::{Command, TargetArgs, TuningArgs};
pub use error::{CliError, Outcome};

use args::{ResumeArgs, SessionsArgs, UploadArgs};
use location::OssLocation;
use transfers::Follower;

/// Tries of the reachability check before anything is queued.
const PREFLIGHT_ATTEMPTS: u32 = 5;
/// How long a run waits for an endpoint that stopped answering before it gives up: a
/// script needs an end, and the sessions are kept for `ossup resume`.
const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(15 * 60);

/// Runs one subcommand to its end.
pub fn run(command: Command) -> Result<Outcome, CliError> {
    match command {
        Command::Upload(args) => upload(args),
        Command::Resume(args) => resume(args),
        Command::Sessions(args) => sessions(args),
        Command::Jobs(_) => jobs::run(),
        Command::Uploads(command) => uploads::run(command),
        Command::Profiles(command) => profiles::run(command),
    }
}

/// Configuration and target shared by the subcommands.
pub(crate) struct Setup {
    pub paths: AppPaths,
    pub file: ConfigFile,
    pub target: Target,
}

impl Setup {
    pub(crate) fn load(target: &TargetArgs) -> Result<Self, CliError> {
        let paths = AppPaths::for_user()?;
        let file = ConfigFile::load(&paths.config_file)?;
        if let Some(warning) = file.exposed_secret_warning(&paths.config_file) {
            eprintln!("warning: {warning}");
        }
        let overrides = Overrides {
            profile: target.profile.clone(),
            endpoint: target.endpoint.clone(),
            region: target.region.clone(),
        };
        let target = config::resolve(&file, &overrides, &EnvVars::from_process())?;
        if target.origin == TargetOrigin::LocalDefault {
            eprintln!("note: {}", target.describe());
        }
        Ok(Self {
            paths,
            file,
            target,
        })
    }

    pub(crate) fn client(&self) -> Result<OssClient, CliError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(OssClient::new(self.target.client.clone())?)
    }

    /// Checks, before anything is queued, that the endpoint answers and accepts our key
    /// for each bucket: a wrong endpoint, key or bucket then fails at once with the OSS
    /// code, instead of every transfer waiting for a network that will never come.
    /// `AccessDenied` on the listing only means the key may not list; it is noted, not
    /// fatal.
    fn preflight<'a>(&self, buckets: impl IntoIterator<Item = &'a str>) -> Result<(), CliError> {
        let client = self.client()?;
        let mut buckets: Vec<&str> = buckets.into_iter().collect();
        buckets.sort_unstable();
        buckets.dedup();
        // A flaky server deserves the patience the engine gives it; an unreachable one or
        // a refusal is reported at once.
        let retrier = Retrier::for_client(
            &client,
            RetryPolicy {
                max_attempts: PREFLIGHT_ATTEMPTS,
                give_up_after_outage: Some(Duration::ZERO),
                ..RetryPolicy::default()
            },
        );
        block_on(async {
            for bucket in buckets {
                let result = remote_uploads::list_uploads_page(
                    &client,
                    &retrier,
                    bucket,
                    None,
                    None,
                    Some(1),
                )
                .await;
                if let Err(error) = result {
                    // A key that may only write cannot list: that says nothing about
                    // whether the upload will work, so say it once and go on.
                    if error.service().is_some_and(|s| s.code == "AccessDenied") {
                        eprintln!(
                            "note: this key may not list in-progress uploads in oss://{bucket} (oss:ListMultipartUploads); uploading anyway"
                        );
                        continue;
                    }
                    let reason = match error.service() {
                        Some(service) => service.to_string(),
                        None => error.to_string(),
                    };
                    return Err(CliError::Failed(format!(
                        "cannot upload to oss://{bucket} at {}: {reason}",
                        self.target.client.endpoint
                    )));
                }
            }
            Ok(())
        })?
    }

    /// How sessions and jobs name the target they belong to.
    pub(crate) fn target_label(&self) -> String {
        self.target.label()
    }

    /// Whether a session or job recorded under `recorded` belongs to this target.
    pub(crate) fn owns(&self, recorded: &str) -> bool {
        crate::engine::recorded_under(&self.target_label(), &self.target.client.endpoint, recorded)
    }

    /// The engine's target for this command's profile or endpoint.
    fn engine_target(&self) -> Result<crate::engine::Target, CliError> {
        let profile = match &self.target.origin {
            config::TargetOrigin::Profile(name) => Some(name.clone()),
            _ => None,
        };
        Ok(crate::engine::Target::new(
            self.target_label(),
            profile,
            self.client()?,
        ))
    }

    /// The file's tuning with the command line's flags on top, validated. The CLI never
    /// resumes sessions it was not asked to.
    fn tuning(&self, flags: &TuningArgs) -> Result<Tuning, CliError> {
        let mut tuning = self.file.tuning.clone();
        tuning.resume_on_start = false;
        if let Some(text) = &flags.part_size {
            tuning.set_part_size(config::parse_size_setting("--part-size", text)?);
        }
        if let Some(parallel) = flags.parallel {
            tuning.set_parallelism(parallel as usize, tuning.max_concurrent_transfers);
        }
        if let Some(text) = &flags.limit_rate {
            // "20MiB" and "20MiB/s" both mean per second.
            let per_second = text.trim().trim_end_matches("/s");
            tuning.bandwidth_limit_bytes_per_sec =
                Some(config::parse_size_setting("--limit-rate", per_second)?);
        }
        if flags.forbid_overwrite {
            tuning.forbid_overwrite = true;
        }
        if let Some(class) = &flags.storage_class {
            tuning.storage_class = Some(class.clone());
        }
        tuning.retry.give_up_after_outage = Some(match &flags.give_up_after {
            Some(text) => parse_duration(text)
                .map_err(|e| CliError::Usage(format!("--give-up-after: {e}")))?,
            None => DEFAULT_GIVE_UP_AFTER,
        });
        tuning.validate().map_err(|message| {
            CliError::Config(ConfigError::Invalid {
                field: "tuning".into(),
                message,
            })
        })?;
        Ok(tuning)
    }

    fn start_engine(&self, tuning: &Tuning) -> Result<EngineHandle, CliError> {
        Engine::spawn(EngineConfig {
            sessions_dir: self.paths.sessions_dir.clone(),
            queue_dir: self.paths.queue_dir.clone(),
            targets: vec![self.engine_target()?],
            tuning: tuning.clone(),
            waker: None,
        })
        .map_err(|e| CliError::Failed(e.to_string()))
    }
}

/// Runs a future to completion on a small runtime of its own.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("could not start the async runtime: {e}")))?;
    Ok(runtime.block_on(future))
}

fn upload(args: UploadArgs) -> Result<Outcome, CliError> {
    let destination = OssLocation::parse(&args.destination)?;
    let options = args.add_options().map_err(CliError::Usage)?;
    let planned = transfers::plan_uploads(&args.paths, &destination)?;
    let setup = Setup::load(&args.target)?;
    let tuning = setup.tuning(&args.tuning)?;
    setup.preflight(planned.iter().map(|p| p.bucket.as_str()))?;
    let mut handle = setup.start_engine(&tuning)?;
    let follower = Follower::for_uploads(&planned)
        .verbose(args.verbose)
        .queue_dir(setup.paths.queue_dir.clone());
    transfers::send_uploads(&handle, &setup.target_label(), &planned, &options)?;
    follower.run(&mut handle)
}

fn resume(args: ResumeArgs) -> Result<Outcome, CliError> {
    let job_target = match args.job {
        Some(number) => Some(jobs::target_args_for(
            &AppPaths::for_user()?.queue_dir,
            JobId(number),
            &args.target,
        )?),
        None => None,
    };
    let setup = Setup::load(job_target.as_ref().map_or(&args.target, |(t, _)| t))?;
    let tuning = setup.tuning(&args.tuning)?;
    let (store, unusable) = open_sessions_reporting(&setup.paths)?;
    let label = setup.target_label();
    let jobs: Vec<JobId> = match (args.job, args.all) {
        (Some(number), _) => {
            let (_, recorded) = job_target.as_ref().expect("looked up above");
            if !setup.owns(&recorded.label) {
                return Err(CliError::Usage(jobs::how_to_resume(
                    JobId(number),
                    recorded,
                )));
            }
            vec![JobId(number)]
        }
        (None, true) => jobs::unfinished(&setup.paths.queue_dir, |recorded| setup.owns(recorded))?,
        (None, false) => Vec::new(),
    };
    let mut selection = if args.job.is_some() {
        transfers::SessionSelection {
            sessions: Vec::new(),
            corrupt: Vec::new(),
        }
    } else {
        transfers::select_sessions(&store, args.id.as_deref())?
    };
    selection.corrupt.extend(unusable);
    for corrupt in &selection.corrupt {
        report_unusable(corrupt);
    }
    let damaged = if selection.corrupt.is_empty() {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    };
    let (here, elsewhere): (Vec<_>, Vec<_>) = selection
        .sessions
        .into_iter()
        .partition(|s| setup.owns(&s.endpoint));
    // A job's saved upload is resumed by its job: continued when unfinished, otherwise its
    // failed files are sent again.
    let (job_sessions, here): (Vec<_>, Vec<_>) = here.into_iter().partition(|s| s.job.is_some());
    let mut retried: Vec<JobId> = Vec::new();
    for session in &job_sessions {
        if let Some(job) = session.job.map(JobId)
            && !jobs.contains(&job)
            && !retried.contains(&job)
        {
            retried.push(job);
        }
    }
    for session in &elsewhere {
        eprintln!(
            "note: saved upload {} belongs to {}, not {label}; it was left alone",
            session.id, session.endpoint
        );
    }
    if here.is_empty() && jobs.is_empty() && retried.is_empty() {
        if args.id.is_some() && !elsewhere.is_empty() {
            return Err(CliError::Usage(format!(
                "that upload was started on {}; resume it with --endpoint or the matching profile",
                elsewhere[0].endpoint
            )));
        }
        println!("No saved uploads to resume.");
        return Ok(damaged);
    }
    let buckets: Vec<String> = here.iter().map(|s| s.bucket.clone()).collect();
    setup.preflight(buckets.iter().map(String::as_str))?;
    let mut handle = setup.start_engine(&tuning)?;
    let follower = Follower::for_sessions(&here)
        .with_jobs(jobs.iter().chain(&retried).copied())
        .verbose(args.verbose)
        .queue_dir(setup.paths.queue_dir.clone());
    let send = |command| {
        handle
            .send(command)
            .map_err(|e| CliError::Failed(e.to_string()))
    };
    for job in &jobs {
        // One job named: continue it and send its failed files again, finished or not.
        send(if args.job.is_some() {
            EngineCommand::RetryJob {
                job: *job,
                file: None,
            }
        } else {
            EngineCommand::ResumeJob(*job)
        })?;
    }
    for job in &retried {
        send(EngineCommand::RetryJob {
            job: *job,
            file: None,
        })?;
    }
    for session in job_sessions.iter().filter(|_| args.restart) {
        // Started over when its job sends it.
        send(EngineCommand::Restart(session.transfer_id()))?;
    }
    for session in &here {
        let id = session.transfer_id();
        send(if args.restart {
            EngineCommand::Restart(id)
        } else {
            EngineCommand::Resume(id)
        })?;
    }
    let outcome = follower.run(&mut handle)?;
    Ok(if outcome == Outcome::Success {
        damaged
    } else {
        outcome
    })
}

fn sessions(_args: SessionsArgs) -> Result<Outcome, CliError> {
    let paths = AppPaths::for_user()?;
    let (store, unusable_files) = open_sessions_reporting(&paths)?;
    for corrupt in &unusable_files {
        report_unusable(corrupt);
    }
    // Reading flags what fails its checks; the flagged rows, old and new, are listed below.
    let report = store
        .load_all()
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let damaged = store
        .damaged()
        .map_err(|e| CliError::Failed(e.to_string()))?;
    for (id, reason) in &damaged {
        eprintln!(
            "error: the saved upload {id} is damaged ({reason}); it is kept and will not be resumed"
        );
    }
    if report.sessions.is_empty() {
        println!("No saved uploads in {}.", paths.queue_dir.display());
    } else {
        println!(
            "{:<32}  {:>5}  {:>9}  {:>10}  {:<40}  SOURCE",
            "ID", "JOB", "PARTS", "SIZE", "DESTINATION"
        );
        for session in &report.sessions {
            let parts_total = session.file.size.div_ceil(session.part_size.max(1)).max(1);
            let job = session
                .job
                .map_or_else(|| "-".to_owned(), |job| job.to_string());
            println!(
                "{:<32}  {job:>5}  {:>9}  {:>10}  {:<40}  {}",
                session.id,
                format!("{}/{parts_total}", session.completed_parts.len()),
                format_bytes(session.file.size),
                ObjectRef::new(&session.bucket, &session.key),
                session.local_path.display()
            );
        }
        println!(
            "{} saved upload(s). `ossup resume --all` continues them.",
            report.sessions.len()
        );
    }
    Ok(if unusable_files.is_empty() && damaged.is_empty() {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}

/// Opens the saved sessions (the queue store, with the session files of an earlier
/// version brought in), printing what opening had to say.
pub(crate) fn open_sessions(paths: &AppPaths) -> Result<SessionStore, CliError> {
    let (store, unusable) = open_sessions_reporting(paths)?;
    for corrupt in &unusable {
        report_unusable(corrupt);
    }
    Ok(store)
}

/// [`open_sessions`], handing back the saved sessions that could not be used instead of
/// printing them, for a command whose exit code counts them.
fn open_sessions_reporting(
    paths: &AppPaths,
) -> Result<(SessionStore, Vec<CorruptSession>), CliError> {
    let (store, notes) = SessionStore::open(&paths.queue_dir, &paths.sessions_dir)
        .map_err(|e| CliError::Failed(format!("the saved sessions cannot be read: {e}")))?;
    for sentence in &notes.sentences {
        eprintln!("note: {sentence}");
    }
    Ok((store, notes.corrupt))
}

/// One saved session that could not be used, and where its bytes were kept.
fn report_unusable(corrupt: &CorruptSession) {
    eprintln!(
        "error: the saved session {} could not be read ({}); {}",
        corrupt.path.display(),
        corrupt.error,
        match &corrupt.moved_to {
            Some(to) => format!("it was kept as {}", to.display()),
            None => "it was kept and will not be resumed".to_string(),
        }
    );
}
