//! `ossup profiles import`: reads the Alibaba Cloud CLI's and ossutil's config files and
//! adds what ossup can use to its own config file, saying what it took and what not.
//! It only writes the config file; it connects to nothing.

use std::path::{Path, PathBuf};

use crate::config::import::{self, Candidate, Outcome as ImportOutcome};
use crate::config::{AppPaths, ConfigFile};

use super::args::{ProfilesCommand, ProfilesImportArgs};
use super::{CliError, Outcome};

pub(super) fn run(command: ProfilesCommand) -> Result<Outcome, CliError> {
    match command {
        ProfilesCommand::Import(args) => import_profiles(args),
    }
}

/// One foreign config file: where it is, and whether the user named it.
struct Source {
    what: &'static str,
    path: PathBuf,
    named: bool,
    parse: fn(&str) -> Result<Vec<Candidate>, String>,
}

fn home_file(relative: &str) -> Option<PathBuf> {
    directories::BaseDirs::new().map(|dirs| dirs.home_dir().join(relative))
}

fn source(
    what: &'static str,
    flag: Option<PathBuf>,
    default: &str,
    parse: fn(&str) -> Result<Vec<Candidate>, String>,
) -> Option<Source> {
    let named = flag.is_some();
    let path = flag.or_else(|| home_file(default))?;
    Some(Source {
        what,
        path,
        named,
        parse,
    })
}

/// Reads a source; `None` when a default path does not exist.
fn read(source: &Source) -> Result<Option<Vec<Candidate>>, CliError> {
    let text = match std::fs::read_to_string(&source.path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !source.named => return Ok(None),
        Err(e) => {
            return Err(CliError::Usage(format!(
                "could not read the {} {}: {e}",
                source.what,
                source.path.display()
            )));
        }
    };
    (source.parse)(&text).map(Some).map_err(|message| {
        CliError::Usage(format!(
            "the {} {} is not valid: {message}",
            source.what,
            source.path.display()
        ))
    })
}

fn import_profiles(args: ProfilesImportArgs) -> Result<Outcome, CliError> {
    let sources: Vec<Source> = [
        source(
            "Alibaba Cloud CLI config",
            args.aliyun_config,
            ".aliyun/config.json",
            import::from_aliyun_json,
        ),
        source(
            "ossutil config",
            args.ossutil_config,
            ".ossutilconfig",
            import::from_ossutil_ini,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();

    // Every file is read before anything is written: a malformed one changes nothing.
    let mut candidates = Vec::new();
    let mut looked_at = Vec::new();
    for source in &sources {
        match read(source)? {
            Some(found) => candidates.extend(found),
            None => looked_at.push(source.path.display().to_string()),
        }
    }
    if candidates.is_empty() {
        if looked_at.len() == sources.len() {
            println!(
                "Nothing to import: there is no {}.",
                if looked_at.is_empty() {
                    "home directory to look in".to_owned()
                } else {
                    looked_at.join(" and no ")
                }
            );
        } else {
            println!("Nothing to import: the files hold no profiles.");
        }
        return Ok(Outcome::Success);
    }

    let paths = AppPaths::for_user()?;
    let mut file = ConfigFile::load(&paths.config_file)?;
    let outcomes = import::merge(&mut file, candidates, args.overwrite);
    let imported = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, ImportOutcome::Imported { .. }))
        .count();
    if imported > 0 {
        file.save(&paths.config_file)?;
    }
    for (candidate, outcome) in &outcomes {
        println!("{}", describe(candidate, outcome));
    }
    println!("{}", summary(imported, &paths.config_file));
    Ok(Outcome::Success)
}

/// One line per candidate; names the key id and endpoint, never the secret or token.
fn describe(candidate: &Candidate, outcome: &ImportOutcome) -> String {
    let Candidate { name, source, .. } = candidate;
    match (outcome, &candidate.profile) {
        (ImportOutcome::Imported { replaced }, Ok(profile)) => {
            let token = if profile.security_token.is_some() {
                " with an STS token (it expires; import again after renewing it)"
            } else {
                ""
            };
            format!(
                "{} {source} as {name:?}: key {}{token}, {}",
                if *replaced { "replaced" } else { "imported" },
                profile.access_key_id.as_deref().unwrap_or_default(),
                profile.endpoint,
            )
        }
        (ImportOutcome::Kept, _) => format!(
            "kept the existing profile {name:?}; {source} was not imported (--overwrite replaces it)"
        ),
        (ImportOutcome::NotImported(why), _) | (_, Err(why)) => {
            format!("not imported: {source}: {why}")
        }
    }
}

fn summary(imported: usize, config_file: &Path) -> String {
    match imported {
        0 => "No profile was added.".to_owned(),
        1 => format!("Wrote 1 profile to {}.", config_file.display()),
        n => format!("Wrote {n} profiles to {}.", config_file.display()),
    }
}
