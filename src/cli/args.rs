//! The command line as clap sees it: subcommands, flags and their help.

use clap::{ArgAction, ArgMatches, Args, Subcommand};

use crate::engine::folder_plan::{FilterRule, PathFilters};
use crate::engine::{AddOptions, OverwritePolicy};

/// Where to send requests; each flag wins over `OSS_*` variables and the config file.
#[derive(Debug, Clone, Default, Args)]
pub struct TargetArgs {
    /// Profile from the config file (default: `default_profile`, or the one named "default").
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Endpoint URL, e.g. https://oss-cn-hangzhou.aliyuncs.com (env: OSS_ENDPOINT).
    #[arg(long, global = true)]
    pub endpoint: Option<String>,
    /// Region id such as cn-hangzhou; selects V4 signatures (env: OSS_REGION).
    #[arg(long, global = true)]
    pub region: Option<String>,
}

/// The headless subcommands (the window opens when none is given).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upload files, folders or stdin (`-`) to oss://bucket/prefix/.
    Upload(UploadArgs),
    /// Continue saved uploads: one by id, or all of them.
    Resume(ResumeArgs),
    /// List the saved (resumable) uploads on this machine.
    Sessions(SessionsArgs),
    /// List the folder jobs in the queue with their counts.
    Jobs(JobsArgs),
    /// Inspect and clean up multipart uploads still open on the server.
    #[command(subcommand)]
    Uploads(UploadsCommand),
    /// Manage the profiles of the config file.
    #[command(subcommand)]
    Profiles(ProfilesCommand),
}

#[derive(Debug, Subcommand)]
pub enum ProfilesCommand {
    /// Take the key pairs the Alibaba Cloud CLI (~/.aliyun/config.json) and ossutil
    /// (~/.ossutilconfig) already hold, as profiles aliyun-<name> and ossutil.
    Import(ProfilesImportArgs),
}

#[derive(Debug, Args)]
pub struct ProfilesImportArgs {
    /// The Alibaba Cloud CLI's config file (default: ~/.aliyun/config.json).
    #[arg(long, value_name = "PATH")]
    pub aliyun_config: Option<std::path::PathBuf>,
    /// ossutil's config file (default: ~/.ossutilconfig).
    #[arg(long, value_name = "PATH")]
    pub ossutil_config: Option<std::path::PathBuf>,
    /// Replace profiles of the same name that already exist.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Files or folders to upload; `-` reads stdin.
    #[arg(required = true, num_args = 1.., value_name = "PATH")]
    pub paths: Vec<String>,
    /// oss://bucket/prefix/ (a trailing `/` means a folder; without it a single source
    /// becomes exactly that key).
    #[arg(required = true, value_name = "DESTINATION")]
    pub destination: String,
    /// Skip every file whose key already exists (whatever its content).
    #[arg(long, conflicts_with = "skip_unchanged")]
    pub skip_existing: bool,
    /// Skip a file whose object has the same size and is not older than the file (the
    /// object's recorded x-oss-meta-mtime, else its LastModified). What exists is read
    /// from one listing of the destination prefix.
    #[arg(long)]
    pub skip_unchanged: bool,
    /// With --skip-unchanged: compare same-size files by CRC-64 (the object's against the
    /// local file's) instead of by time.
    #[arg(long, requires = "skip_unchanged")]
    pub checksum: bool,
    /// Send only matching files of a folder (glob on the path relative to the folder;
    /// repeatable). The last --include/--exclude that matches a file decides; a file
    /// matching none is sent, unless only --include was given. `*` stays within one
    /// folder, `**` crosses folders, a leading `/` anchors at the added folder.
    #[arg(long, value_name = "PATTERN", action = ArgAction::Append)]
    pub include: Vec<String>,
    /// Leave out matching files of a folder (see --include for how rules combine).
    #[arg(long, value_name = "PATTERN", action = ArgAction::Append)]
    pub exclude: Vec<String>,
    /// --include and --exclude in the order given (the last match wins).
    #[arg(skip)]
    pub filter_rules: Vec<FilterRule>,
    /// Walk into linked folders and send linked files (a link back into the tree is
    /// reported and skipped); without it links are recorded as skipped.
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Print a line for every file of a folder, not only for the ones that fail.
    #[arg(long, short)]
    pub verbose: bool,
    #[command(flatten)]
    pub tuning: TuningArgs,
    #[command(flatten)]
    pub target: TargetArgs,
}

impl UploadArgs {
    /// The options the engine gets with these files.
    pub fn add_options(&self) -> Result<AddOptions, String> {
        let overwrite = if self.skip_existing {
            OverwritePolicy::SkipExisting
        } else if self.skip_unchanged {
            OverwritePolicy::SkipUnchanged {
                checksum: self.checksum,
            }
        } else {
            OverwritePolicy::Overwrite
        };
        Ok(AddOptions {
            overwrite,
            filters: PathFilters::new(self.filter_rules.clone())?,
            contents_only: false,
            follow_symlinks: self.follow_symlinks,
        })
    }

    /// Puts --include and --exclude back in command-line order (clap keeps each flag's
    /// values apart, with their positions).
    pub fn read_filter_order(&mut self, matches: &ArgMatches) {
        let mut rules: Vec<(usize, FilterRule)> = Vec::new();
        for (id, make) in [
            ("include", FilterRule::Include as fn(String) -> FilterRule),
            ("exclude", FilterRule::Exclude as fn(String) -> FilterRule),
        ] {
            if let (Some(indices), Some(values)) =
                (matches.indices_of(id), matches.get_many::<String>(id))
            {
                rules.extend(indices.zip(values).map(|(i, v)| (i, make(v.clone()))));
            }
        }
        rules.sort_by_key(|(i, _)| *i);
        self.filter_rules = rules.into_iter().map(|(_, r)| r).collect();
    }
}

/// Per-run tuning; each flag wins over the config file's `[tuning]`.
#[derive(Debug, Clone, Default, Args)]
pub struct TuningArgs {
    /// Part size, e.g. 8MiB or 512KiB (100KiB to 5GiB).
    #[arg(long, value_name = "SIZE")]
    pub part_size: Option<String>,
    /// Parts of one file uploaded at once (1 to 64).
    #[arg(long, value_name = "N")]
    pub parallel: Option<u32>,
    /// Bandwidth limit per second over all files, e.g. 20MiB (or 20MiB/s).
    #[arg(long, value_name = "RATE")]
    pub limit_rate: Option<String>,
    /// Do not replace objects that already exist (they are reported as skipped).
    #[arg(long)]
    pub forbid_overwrite: bool,
    /// Storage class of new objects: Standard, IA, Archive, ColdArchive, DeepColdArchive.
    #[arg(long, value_name = "CLASS")]
    pub storage_class: Option<String>,
    /// Stop waiting for an endpoint that cannot be reached after this long, e.g. 15m,
    /// 30s or 500ms (default 15m); the uploads stay saved for `ossup resume`.
    #[arg(long, value_name = "DURATION")]
    pub give_up_after: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The session id shown by `ossup sessions` (a unique prefix is enough).
    #[arg(required_unless_present_any = ["all", "job"], conflicts_with_all = ["all", "job"])]
    pub id: Option<String>,
    /// Resume every saved upload and every unfinished job.
    #[arg(long, conflicts_with = "job")]
    pub all: bool,
    /// Continue the job with this number, as `ossup jobs` lists it, sending its failed
    /// files again too.
    #[arg(long, value_name = "N")]
    pub job: Option<i64>,
    /// Print a line for every file of a job, not only for the ones that fail.
    #[arg(long, short)]
    pub verbose: bool,
    /// Start over instead: abort the old upload id on the server and upload from
    /// scratch (after the local file changed, or the server forgot the upload).
    #[arg(long)]
    pub restart: bool,
    #[command(flatten)]
    pub tuning: TuningArgs,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args)]
pub struct SessionsArgs {}

#[derive(Debug, Args)]
pub struct JobsArgs {}

#[derive(Debug, Subcommand)]
pub enum UploadsCommand {
    /// List in-progress uploads of oss://bucket[/prefix], marking ours and orphans.
    Ls(UploadsLsArgs),
    /// List the parts of one upload, with their total size.
    Parts(UploadsPartsArgs),
    /// Abort one upload (asks for --yes when a local session points to it).
    Abort(UploadsAbortArgs),
    /// Abort uploads older than an age, e.g. --older-than 7d.
    Prune(UploadsPruneArgs),
    /// Have the bucket abort stale uploads itself with a lifecycle rule: --after 7d sets
    /// ours, --show lists the rules that do, --off removes ours. Other rules are kept.
    AutoAbort(UploadsAutoAbortArgs),
}

#[derive(Debug, Args)]
pub struct UploadsLsArgs {
    /// oss://bucket or oss://bucket/prefix
    pub location: String,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args)]
pub struct UploadsPartsArgs {
    /// oss://bucket/key
    pub object: String,
    #[arg(long, value_name = "ID")]
    pub upload_id: String,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args)]
pub struct UploadsAbortArgs {
    /// oss://bucket/key
    pub object: String,
    #[arg(long, value_name = "ID")]
    pub upload_id: String,
    /// Also abort when a saved session on this machine points to the upload (the
    /// session is then removed).
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["after", "show", "off"])))]
pub struct UploadsAutoAbortArgs {
    /// oss://bucket or oss://bucket/prefix
    pub location: String,
    /// Abort uploads this long after they start, in whole days, e.g. 7d.
    #[arg(long, value_name = "AGE")]
    pub after: Option<String>,
    /// Print the rules that abort uploads under the location.
    #[arg(long)]
    pub show: bool,
    /// Remove our rule for the location.
    #[arg(long)]
    pub off: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args)]
pub struct UploadsPruneArgs {
    /// oss://bucket or oss://bucket/prefix
    pub location: String,
    /// Age limit, e.g. 7d, 12h, 30m.
    #[arg(long, value_name = "AGE")]
    pub older_than: String,
    /// Only show what would be aborted.
    #[arg(long)]
    pub dry_run: bool,
    /// Also abort uploads that a saved session on this machine points to.
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}
