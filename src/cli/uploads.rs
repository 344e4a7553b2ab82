//! `ossup uploads ls|parts|abort|prune|auto-abort`: multipart uploads still open on the
//! server, and the lifecycle rule that has the bucket abort them.

use std::time::SystemTime;

use crate::config::units::{format_bytes, format_duration, parse_duration};
use crate::engine::lifecycle;
use crate::engine::remote_uploads::{
    self, AbortOutcome, AbortResult, ClassifiedUpload, PruneRequest, RemoteUpload, UploadClass,
};
use crate::engine::session_store::SessionStore;
use crate::protocol::ObjectRef;
use crate::protocol::error::code;

use super::args::{
    UploadsAbortArgs, UploadsAutoAbortArgs, UploadsCommand, UploadsLsArgs, UploadsPartsArgs,
    UploadsPruneArgs,
};
use super::error::{CliError, Outcome};
use super::location::OssLocation;
use super::{Setup, block_on};

pub fn run(command: UploadsCommand) -> Result<Outcome, CliError> {
    match command {
        UploadsCommand::Ls(args) => ls(args),
        UploadsCommand::Parts(args) => parts(args),
        UploadsCommand::Abort(args) => abort(args),
        UploadsCommand::Prune(args) => prune(args),
        UploadsCommand::AutoAbort(args) => auto_abort(args),
    }
}

const SECONDS_PER_DAY: u64 = 24 * 60 * 60;

fn auto_abort(args: UploadsAutoAbortArgs) -> Result<Outcome, CliError> {
    let location = OssLocation::parse(&args.location)?;
    let prefix = location.prefix().unwrap_or_default().to_owned();
    let bucket = location.bucket.clone();
    let days = match &args.after {
        Some(text) => {
            let after = parse_duration(text).map_err(|e| CliError::Usage(e.to_string()))?;
            let seconds = after.as_secs();
            if seconds == 0 || seconds % SECONDS_PER_DAY != 0 || after.subsec_nanos() != 0 {
                return Err(CliError::Usage(format!(
                    "--after {text}: lifecycle rules count whole days, e.g. 7d"
                )));
            }
            Some((seconds / SECONDS_PER_DAY) as i64)
        }
        None => None,
    };
    let setup = Setup::load(&args.target)?;
    let client = setup.client()?;
    if let Some(days) = days {
        block_on(lifecycle::set_auto_abort(&client, &bucket, &prefix, days))??;
        println!(
            "Uploads under {location} older than {days} day(s) are now aborted by the bucket (rule {}).",
            lifecycle::our_rule_id(&prefix)
        );
        return Ok(Outcome::Success);
    }
    if args.off {
        if block_on(lifecycle::remove_auto_abort(&client, &bucket, &prefix))?? {
            println!(
                "Removed rule {}; the bucket's other lifecycle rules are unchanged.",
                lifecycle::our_rule_id(&prefix)
            );
        } else {
            println!("No ossup rule aborts uploads under {location}; nothing changed.");
        }
        return Ok(Outcome::Success);
    }
    let config = block_on(lifecycle::get_lifecycle(&client, &bucket))??;
    let rules = config
        .as_ref()
        .map(|config| lifecycle::abort_rules_for(config, &prefix))
        .unwrap_or_default();
    if rules.is_empty() {
        println!("No lifecycle rule aborts uploads under {location}.");
        return Ok(Outcome::Success);
    }
    println!("{:<32} {:<24} {:<22} BY", "RULE", "PREFIX", "ABORTS");
    for rule in rules {
        let deadline = rule.abort_multipart_upload.as_ref();
        let when = match (
            deadline.and_then(|d| d.days),
            deadline.and_then(|d| d.created_before_date.as_deref()),
        ) {
            (Some(days), _) => format!("after {days} day(s)"),
            (None, Some(date)) => format!("started before {}", date.get(..10).unwrap_or(date)),
            (None, None) => "?".to_owned(),
        };
        let prefix_shown = if rule.prefix.is_empty() {
            "(whole bucket)"
        } else {
            rule.prefix.as_str()
        };
        println!(
            "{:<32} {:<24} {:<22} {}",
            rule.id.as_deref().unwrap_or("(no id)"),
            prefix_shown,
            when,
            if lifecycle::is_ours(rule) {
                "ossup"
            } else {
                "other"
            }
        );
    }
    Ok(Outcome::Success)
}

fn ls(args: UploadsLsArgs) -> Result<Outcome, CliError> {
    let location = OssLocation::parse(&args.location)?;
    let setup = Setup::load(&args.target)?;
    let client = setup.client()?;
    let (_, sessions) = local_sessions(&setup)?;
    let uploads = block_on(remote_uploads::list_uploads(
        &client,
        &location.bucket,
        location.prefix(),
        None,
    ))??;
    let classified = remote_uploads::classify(uploads, &sessions);
    let now = SystemTime::now();
    if classified.is_empty() {
        println!("No uploads in progress under {location}.");
        return Ok(Outcome::Success);
    }
    println!(
        "{:<20} {:<34} {:>9}  {:<18}  KEY",
        "INITIATED", "UPLOAD ID", "AGE", "STATUS"
    );
    for item in &classified {
        let age = item
            .upload
            .age(now)
            .map(format_duration)
            .unwrap_or_else(|| "?".into());
        println!(
            "{:<20} {:<34} {age:>9}  {:<18}  {}",
            item.upload
                .initiated
                .get(..19)
                .unwrap_or(&item.upload.initiated),
            item.upload.upload_id,
            item.class.label(),
            item.upload.key
        );
    }
    let orphans = classified
        .iter()
        .filter(|c| c.class == UploadClass::Orphan)
        .count();
    println!(
        "{} upload(s) in progress, {orphans} orphan(s). `ossup uploads parts` shows the bytes an upload holds; `ossup uploads prune` removes old ones.",
        classified.len()
    );
    Ok(Outcome::Success)
}

fn parts(args: UploadsPartsArgs) -> Result<Outcome, CliError> {
    let location = OssLocation::parse(&args.object)?;
    let key = location.key()?.to_owned();
    let setup = Setup::load(&args.target)?;
    let client = setup.client()?;
    let listed = block_on(remote_uploads::list_upload_parts(
        &client,
        &location.bucket,
        &key,
        &args.upload_id,
        None,
    ))??;
    println!("{:>6} {:>12}  {:<36}  CRC-64", "PART", "SIZE", "ETAG");
    for part in &listed.parts {
        let crc = part
            .hash_crc64ecma
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "{:>6} {:>12}  {:<36}  {crc}",
            part.part_number, part.size, part.etag
        );
    }
    println!(
        "{} part(s), {} ({} bytes) stored for {location} upload {}.",
        listed.parts.len(),
        format_bytes(listed.total_bytes),
        listed.total_bytes,
        args.upload_id
    );
    Ok(Outcome::Success)
}

fn abort(args: UploadsAbortArgs) -> Result<Outcome, CliError> {
    let location = OssLocation::parse(&args.object)?;
    let key = location.key()?.to_owned();
    let setup = Setup::load(&args.target)?;
    let client = setup.client()?;
    let (store, sessions) = local_sessions(&setup)?;
    let upload = RemoteUpload {
        bucket: location.bucket.clone(),
        key,
        upload_id: args.upload_id.clone(),
        initiated: String::new(),
        initiated_at: None,
    };
    let classified = remote_uploads::classify(vec![upload], &sessions);
    let outcomes = block_on(remote_uploads::abort_uploads(
        &client,
        &store,
        &classified,
        args.yes,
    ))?;
    let mut outcome = Outcome::Success;
    for item in &outcomes {
        match &item.result {
            AbortResult::NeedsConfirmation(session) => {
                return Err(CliError::Usage(format!(
                    "a saved upload on this machine ({} → {}) uses upload id {}; add --yes to abort it and forget that session",
                    session.local_path.display(),
                    ObjectRef::new(&session.bucket, &session.key),
                    session.upload_id
                )));
            }
            AbortResult::AlreadyGone { session_removed } => {
                let forgot = session_removed
                    .as_ref()
                    .map(|id| format!(" (forgot the saved session {id})"))
                    .unwrap_or_default();
                eprintln!(
                    "error: the server has no upload {} for {location}; it was already aborted or completed{forgot}.",
                    item.upload.upload_id
                );
                outcome = Outcome::SomeFailed;
            }
            _ => {
                if !report_abort(item, false) {
                    outcome = Outcome::SomeFailed;
                }
            }
        }
    }
    Ok(outcome)
}

fn prune(args: UploadsPruneArgs) -> Result<Outcome, CliError> {
    let location = OssLocation::parse(&args.location)?;
    let older_than =
        parse_duration(&args.older_than).map_err(|e| CliError::Usage(e.to_string()))?;
    let setup = Setup::load(&args.target)?;
    let client = setup.client()?;
    let (store, sessions) = local_sessions(&setup)?;
    let now = SystemTime::now();
    let request = PruneRequest {
        bucket: &location.bucket,
        prefix: location.prefix(),
        older_than,
        now,
        dry_run: args.dry_run,
        confirm_local_sessions: args.yes,
    };
    let report = block_on(remote_uploads::prune(&client, &request, &store, &sessions))??;
    if report.selected.is_empty() {
        println!(
            "No uploads under {location} are older than {}.",
            format_duration(older_than)
        );
        return Ok(Outcome::Success);
    }
    if report.dry_run {
        for item in &report.selected {
            println!("would abort {}", describe(item, now));
        }
        println!(
            "Dry run: {} upload(s) older than {} would be aborted; nothing was changed.",
            report.selected.len(),
            format_duration(older_than)
        );
        return Ok(Outcome::Success);
    }
    let mut failures = 0;
    let mut kept = 0;
    for item in &report.outcomes {
        match &item.result {
            AbortResult::NeedsConfirmation(_) => kept += 1,
            _ => {
                if !report_abort(item, true) {
                    failures += 1;
                }
            }
        }
    }
    let aborted = report
        .outcomes
        .iter()
        .filter(|o| o.result.is_gone())
        .count();
    let mut text = format!(
        "Aborted {aborted} of {} old upload(s)",
        report.selected.len()
    );
    if kept > 0 {
        text.push_str(&format!(
            "; kept {kept} that saved sessions on this machine use (add --yes to abort them too)"
        ));
    }
    if failures > 0 {
        text.push_str(&format!("; {failures} failed"));
    }
    println!("{text}.");
    Ok(if failures > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Success
    })
}

fn describe(item: &ClassifiedUpload, now: SystemTime) -> String {
    let age = item
        .upload
        .age(now)
        .map(format_duration)
        .unwrap_or_else(|| "?".into());
    format!(
        "{} upload {} ({}, {age} old)",
        ObjectRef::new(&item.upload.bucket, &item.upload.key),
        item.upload.upload_id,
        item.class.label()
    )
}

/// Prints one abort result; returns whether the upload is gone from the server.
fn report_abort(item: &AbortOutcome, gone_is_fine: bool) -> bool {
    let target = format!(
        "{} upload {}",
        ObjectRef::new(&item.upload.bucket, &item.upload.key),
        item.upload.upload_id
    );
    let forgot = |removed: &Option<String>| {
        removed
            .as_ref()
            .map(|id| format!("; forgot the saved session {id}"))
            .unwrap_or_default()
    };
    match &item.result {
        AbortResult::Aborted { session_removed } => {
            println!("aborted {target}{}", forgot(session_removed));
            true
        }
        AbortResult::AlreadyGone { session_removed } => {
            println!("already gone {target}{}", forgot(session_removed));
            gone_is_fine
        }
        AbortResult::NeedsConfirmation(_) => false,
        AbortResult::SessionNotRemoved { id, error } => {
            eprintln!(
                "error: aborted {target}, but its saved session {id} could not be removed: {error}"
            );
            false
        }
        AbortResult::Failed(error) if error.is_code(code::ACCESS_DENIED) => {
            eprintln!(
                "error: could not abort {target}: {}; any saved session is kept",
                remote_uploads::DENIED_ABORT
            );
            false
        }
        AbortResult::Failed(error) => {
            eprintln!("error: could not abort {target}: {error}");
            false
        }
    }
}

/// The saved sessions, and those of them started on this command's target.
fn local_sessions(
    setup: &Setup,
) -> Result<(SessionStore, Vec<remote_uploads::LocalSession>), CliError> {
    let store = super::open_sessions(&setup.paths)?;
    let sessions =
        remote_uploads::local_sessions(&store).map_err(|e| CliError::Failed(e.to_string()))?;
    // A session started against another endpoint says nothing about this server's uploads.
    let ours = sessions
        .into_iter()
        .filter(|s| setup.owns(&s.endpoint))
        .collect();
    Ok((store, ours))
}
