//! Which files a folder sends and under which keys, and what stops some of them.
//!
//! The window (through the engine's Add) and the CLI both expand folders here, so the same
//! folder gives the same keys and the same refusals whichever front end is used. The walk
//! only reads the file system: it is streamed by [`FolderWalk`] (the engine queues files as
//! they are found) or collected whole by [`plan_folder`] (the CLI refuses the command when
//! anything was found wrong). Blocking: call it off the async threads.
//!
//! [`PathFilters`] (`--include` / `--exclude`) are applied here too, so an excluded file
//! never becomes a transfer, whichever front end added the folder.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

use crate::protocol::object_key::validate_object_key;

/// One `--include` or `--exclude` pattern, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterRule {
    Include(String),
    Exclude(String),
}

/// Include/exclude glob patterns matched against a file's path relative to the folder
/// that was added (`/`-separated, without the folder's own name).
///
/// The rules read like rclone's: the **last** pattern that matches decides. A file that
/// matches no pattern is included, unless every pattern is an include (then only what
/// an include names is sent). `*` and `?` stay within one path segment, `**` crosses
/// segments, `{a,b}` and `[ab]` work as in a shell. A pattern starting with `/` is
/// anchored at the added folder; any other pattern also matches at any depth
/// (`*.tmp` matches `a/b/x.tmp`).
#[derive(Debug, Clone, Default)]
pub struct PathFilters {
    /// Compiled rules in the order given, each with whether it includes.
    rules: Vec<(bool, Vec<GlobMatcher>)>,
    /// The rules as given, for messages and equality.
    given: Vec<FilterRule>,
}

impl PartialEq for PathFilters {
    fn eq(&self, other: &Self) -> bool {
        self.given == other.given
    }
}

impl Eq for PathFilters {}

impl PathFilters {
    /// Compiles the rules; refuses a pattern that is not a valid glob, naming it.
    pub fn new(rules: Vec<FilterRule>) -> Result<Self, String> {
        let mut compiled = Vec::with_capacity(rules.len());
        for rule in &rules {
            let (include, pattern) = match rule {
                FilterRule::Include(p) => (true, p),
                FilterRule::Exclude(p) => (false, p),
            };
            let glob = |text: &str| {
                GlobBuilder::new(text)
                    .literal_separator(true)
                    .build()
                    .map(|g| g.compile_matcher())
                    .map_err(|e| format!("the pattern {pattern:?} is not a valid glob: {e}"))
            };
            let matchers = match pattern.strip_prefix('/') {
                Some(anchored) => vec![glob(anchored)?],
                None => vec![glob(pattern)?, glob(&format!("**/{pattern}"))?],
            };
            compiled.push((include, matchers));
        }
        Ok(Self {
            rules: compiled,
            given: rules,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> &[FilterRule] {
        &self.given
    }

    /// Whether the file at `relative` (to the added folder) is sent.
    pub fn allows(&self, relative: &str) -> bool {
        for (include, matchers) in self.rules.iter().rev() {
            if matchers.iter().any(|m| m.is_match(relative)) {
                return *include;
            }
        }
        !self.rules.iter().all(|(include, _)| *include) || self.rules.is_empty()
    }
}

/// One file to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub path: PathBuf,
    pub key: String,
    pub size: u64,
    /// Its path under the folder that was added; for a file named on its own, its whole
    /// path (two files named on their own may share a name).
    pub relative: PathBuf,
    /// Its modification time when planned, nanoseconds since the Unix epoch (0 if
    /// unknown).
    pub mtime_unix_nanos: i128,
}

impl PlannedFile {
    /// A file named on its own: `relative` is its whole path, size and time read now.
    pub fn single(path: PathBuf, key: String, metadata: &fs::Metadata) -> Self {
        Self {
            relative: path.clone(),
            key,
            size: metadata.len(),
            mtime_unix_nanos: mtime_unix_nanos(metadata),
            path,
        }
    }
}

/// Nanoseconds since the Unix epoch of `metadata`'s modification time; 0 if unknown.
pub fn mtime_unix_nanos(metadata: &fs::Metadata) -> i128 {
    let Ok(modified) = metadata.modified() else {
        return 0;
    };
    match modified.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    }
}

/// Something under an added folder that is not sent, and the sentence that says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSent {
    pub path: PathBuf,
    /// Its path under the added folder.
    pub relative: PathBuf,
    pub reason: String,
    /// Left out on purpose (a symbolic link), rather than failed (unreadable, bad name).
    pub skipped: bool,
}

/// What the walk finds: a file to send, an entry that is not sent, or a folder that
/// cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderItem {
    File(PlannedFile),
    NotSent(NotSent),
    Problem(String),
}

/// A whole folder: the files to send and the problems found, in walk order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderPlan {
    pub files: Vec<PlannedFile>,
    pub problems: Vec<String>,
    /// Files left out by the filters (not transfers at all).
    pub excluded: u64,
}

/// Walks `root` and collects every file and problem.
pub fn plan_folder(root: &Path, key_prefix: &str) -> FolderPlan {
    plan_folder_filtered(root, key_prefix, &PathFilters::default())
}

/// Walks `root`, leaving out what `filters` exclude, and collects every file and problem.
pub fn plan_folder_filtered(root: &Path, key_prefix: &str, filters: &PathFilters) -> FolderPlan {
    let mut plan = FolderPlan::default();
    let mut walk = FolderWalk::new(root, key_prefix).filtered(filters.clone());
    for item in walk.by_ref() {
        match item {
            FolderItem::File(file) => plan.files.push(file),
            FolderItem::NotSent(NotSent { skipped: true, .. }) => {}
            FolderItem::NotSent(NotSent { reason, .. }) | FolderItem::Problem(reason) => {
                plan.problems.push(reason)
            }
        }
    }
    plan.excluded = walk.excluded();
    plan
}

/// The key prefix a folder's files go under: `prefix` + the folder's own name + `/`
/// (`.` and `..` are named after the folder they stand for). Refuses a name that is not
/// valid UTF-8, since an object key is text.
pub fn folder_key_prefix(prefix: &str, folder: &Path) -> Result<String, String> {
    let name = match folder.file_name().filter(|n| *n != "." && *n != "..") {
        Some(name) => name.to_owned(),
        None => fs::canonicalize(folder)
            .ok()
            .and_then(|p| p.file_name().map(OsString::from))
            .ok_or_else(|| {
                format!(
                    "Cannot upload {}: it has no folder name to use in keys.",
                    folder.display()
                )
            })?,
    };
    let name = name.to_str().ok_or_else(|| not_utf8(folder))?;
    Ok(format!("{prefix}{name}/"))
}

/// The key of a single file added on its own: `prefix` + its name, checked as the walk
/// checks the files it finds.
pub fn file_key(prefix: &str, path: &Path) -> Result<String, String> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("Cannot upload {}: it has no file name.", path.display()))?;
    let name = name.to_str().ok_or_else(|| not_utf8(path))?;
    checked_key(format!("{prefix}{name}"), path)
}

/// The key of a file named on its own: `prefix` + its name, or with `contents_only`
/// (`upload FILE oss://bucket/name`) `prefix` itself, checked as any key is.
pub fn named_file_key(prefix: &str, path: &Path, contents_only: bool) -> Result<String, String> {
    if contents_only {
        checked_key(prefix.to_owned(), path)
    } else {
        file_key(prefix, path)
    }
}

/// Depth first, in name order; links to files are followed (as `cp` does), links to
/// folders are not (they could loop).
pub struct FolderWalk {
    key_prefix: String,
    /// Folders still to visit, innermost last: each with its names still to visit (sorted
    /// so `pop` gives the next), its path and its path under the root. Names only, so a
    /// folder of a million files costs a million short strings, not a million entries.
    stack: Vec<OpenFolder>,
    /// A problem with the root itself, reported first.
    root_problem: Option<String>,
    /// The one item of a walk over a file named on its own.
    named: Option<FolderItem>,
    /// Which files (by path relative to the root) are sent.
    filters: PathFilters,
    /// How many files the filters left out so far.
    excluded: u64,
    /// Walk into linked folders and send linked files.
    follow_symlinks: bool,
    /// Folders entered so far (device, inode), so a link back into the tree is a loop
    /// reported once, not walked forever.
    entered: std::collections::HashSet<(u64, u64)>,
}

struct OpenFolder {
    names: Vec<std::ffi::OsString>,
    path: PathBuf,
    relative: PathBuf,
}

impl FolderWalk {
    pub fn new(root: &Path, key_prefix: &str) -> Self {
        let mut walk = Self::empty(key_prefix);
        if let Ok(meta) = fs::metadata(root) {
            walk.entered.extend(folder_identity(&meta));
        }
        if let Err(problem) = walk.open(root, PathBuf::new()) {
            walk.root_problem = Some(problem);
        }
        walk
    }

    /// The walk of a file named on its own, sent to `key` (or not, with the reason):
    /// filters do not apply to it, and a link named so is followed, as `cp` does.
    pub fn named_file(path: &Path, key: Result<String, String>) -> Self {
        let not_sent = |reason: String| {
            FolderItem::NotSent(NotSent {
                path: path.to_path_buf(),
                relative: path.to_path_buf(),
                reason,
                skipped: false,
            })
        };
        let cannot = |e: io::Error| {
            not_sent(format!(
                "Cannot upload {}: {}.",
                path.display(),
                describe_io_error(&e)
            ))
        };
        let item = match (fs::metadata(path), key) {
            (Err(e), _) => cannot(e),
            (Ok(meta), _) if meta.is_dir() => not_sent(format!(
                "Cannot upload {}: it is a folder, not a file.",
                path.display()
            )),
            (Ok(_), Err(problem)) => not_sent(problem),
            (Ok(meta), Ok(key)) => match fs::File::open(path) {
                Ok(_) => FolderItem::File(PlannedFile::single(path.to_path_buf(), key, &meta)),
                Err(e) => cannot(e),
            },
        };
        Self {
            named: Some(item),
            ..Self::empty("")
        }
    }

    /// A walk with nothing to visit yet.
    fn empty(key_prefix: &str) -> Self {
        Self {
            key_prefix: key_prefix.to_owned(),
            stack: Vec::new(),
            root_problem: None,
            named: None,
            filters: PathFilters::default(),
            excluded: 0,
            follow_symlinks: false,
            entered: Default::default(),
        }
    }

    /// Leaves out the files `filters` exclude (folders are still entered).
    pub fn filtered(mut self, filters: PathFilters) -> Self {
        self.filters = filters;
        self
    }

    /// Follows symbolic links: linked folders are walked (a link back into a folder
    /// already walked is reported as a loop and skipped), linked files are sent.
    pub fn following_symlinks(mut self, follow: bool) -> Self {
        self.follow_symlinks = follow;
        self
    }

    /// How many files the filters have left out so far.
    pub fn excluded(&self) -> u64 {
        self.excluded
    }

    fn open(&mut self, dir: &Path, relative: PathBuf) -> Result<(), String> {
        let unreadable = |e: io::Error| {
            format!(
                "Cannot read the folder {}: {}.",
                dir.display(),
                describe_io_error(&e)
            )
        };
        let mut names = fs::read_dir(dir)
            .map_err(unreadable)?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(unreadable)?;
        // Reversed, so popping yields names in ascending order.
        names.sort_by(|a, b| b.cmp(a));
        self.stack.push(OpenFolder {
            names,
            path: dir.to_path_buf(),
            relative,
        });
        Ok(())
    }

    /// The item for one entry, or `None` for a folder (opened instead), a file the
    /// filters leave out, or something that is neither file nor folder (a socket).
    fn visit(&mut self, path: PathBuf, relative: PathBuf) -> Option<FolderItem> {
        let not_sent = |reason: String, skipped: bool| {
            Some(FolderItem::NotSent(NotSent {
                path: path.clone(),
                relative: relative.clone(),
                reason,
                skipped,
            }))
        };
        let cannot = |e: io::Error| {
            not_sent(
                format!(
                    "Cannot upload {}: {}.",
                    path.display(),
                    describe_io_error(&e)
                ),
                false,
            )
        };
        let link = match fs::symlink_metadata(&path) {
            Ok(link) => link,
            // Gone between the listing and now: nothing to send.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => return cannot(e),
        };
        let link = if !link.file_type().is_symlink() {
            link
        } else if !self.follow_symlinks {
            return not_sent(
                format!(
                    "Skipped {}: it is a symbolic link, and links are not followed.",
                    path.display()
                ),
                true,
            );
        } else {
            match fs::metadata(&path) {
                Ok(target) => {
                    if target.is_dir()
                        && folder_identity(&target).is_some_and(|id| !self.entered.insert(id))
                    {
                        return not_sent(
                            format!(
                                "Skipped {}: it links to a folder already walked (a loop, or a second way to the same files).",
                                path.display()
                            ),
                            true,
                        );
                    }
                    target
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return not_sent(
                        format!(
                            "Cannot upload {}: it is a symbolic link to nothing.",
                            path.display()
                        ),
                        false,
                    );
                }
                Err(e) => return cannot(e),
            }
        };
        if link.is_dir() {
            // Without links a folder is reached once, so only a walk that follows them
            // needs to remember where it has been.
            if self.follow_symlinks
                && let Some(id) = folder_identity(&link)
            {
                self.entered.insert(id);
            }
            return self
                .open(&path, relative.clone())
                .err()
                .and_then(|problem| not_sent(problem, false));
        }
        if !link.is_file() {
            return None;
        }
        let Some(relative_text) = relative.to_str() else {
            return not_sent(not_utf8(&path), false);
        };
        // Filters and keys always use `/`, whatever the platform's separator.
        let relative_text = relative_text.replace(std::path::MAIN_SEPARATOR, "/");
        if !self.filters.allows(&relative_text) {
            self.excluded += 1;
            return None;
        }
        if let Err(e) = fs::File::open(&path) {
            return cannot(e);
        }
        match checked_key(format!("{}{relative_text}", self.key_prefix), &path) {
            Ok(key) => Some(FolderItem::File(PlannedFile {
                key,
                size: link.len(),
                mtime_unix_nanos: mtime_unix_nanos(&link),
                relative,
                path,
            })),
            Err(problem) => not_sent(problem, false),
        }
    }
}

impl Iterator for FolderWalk {
    type Item = FolderItem;

    fn next(&mut self) -> Option<FolderItem> {
        if let Some(problem) = self.root_problem.take() {
            return Some(FolderItem::Problem(problem));
        }
        if let Some(item) = self.named.take() {
            return Some(item);
        }
        loop {
            let folder = self.stack.last_mut()?;
            let Some(name) = folder.names.pop() else {
                self.stack.pop();
                continue;
            };
            let path = folder.path.join(&name);
            let relative = folder.relative.join(&name);
            if let Some(item) = self.visit(path, relative) {
                return Some(item);
            }
        }
    }
}

/// A folder's (device, inode), where the platform has them.
fn folder_identity(meta: &fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

fn checked_key(key: String, path: &Path) -> Result<String, String> {
    validate_object_key(&key)
        .map(|()| key)
        .map_err(|e| format!("Cannot upload {}: {e}.", path.display()))
}

fn not_utf8(path: &Path) -> String {
    format!(
        "Cannot upload {}: its name is not valid UTF-8, and object keys are text.",
        path.display()
    )
}

/// A file-system error in words a person acts on.
pub fn describe_io_error(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "no such file or folder".into(),
        io::ErrorKind::PermissionDenied => "permission denied (it cannot be read)".into(),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_tree_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("trip");
        fs::create_dir_all(root.join("day 1/inner")).unwrap();
        fs::write(root.join("b.txt"), b"bb").unwrap();
        fs::write(root.join("day 1/a.jpg"), b"a").unwrap();
        fs::write(root.join("day 1/inner/z"), b"").unwrap();
        fs::write(root.join("a.txt"), b"aaa").unwrap();
        let prefix = folder_key_prefix("up/", &root).unwrap();
        assert_eq!(prefix, "up/trip/");
        let plan = plan_folder(&root, &prefix);
        assert!(plan.problems.is_empty(), "{:?}", plan.problems);
        let keys: Vec<_> = plan.files.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "up/trip/a.txt",
                "up/trip/b.txt",
                "up/trip/day 1/a.jpg",
                "up/trip/day 1/inner/z"
            ]
        );
        assert_eq!(plan.files[0].size, 3);
        assert_eq!(file_key("p/", &root.join("a.txt")).unwrap(), "p/a.txt");
    }

    fn filters(rules: &[(&str, &str)]) -> PathFilters {
        PathFilters::new(
            rules
                .iter()
                .map(|(kind, p)| match *kind {
                    "+" => FilterRule::Include((*p).into()),
                    _ => FilterRule::Exclude((*p).into()),
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn the_last_matching_filter_wins() {
        let f = filters(&[("-", "*.tmp"), ("+", "keep.tmp")]);
        assert!(!f.allows("a.tmp"));
        assert!(!f.allows("deep/er/a.tmp"));
        assert!(f.allows("keep.tmp"));
        assert!(f.allows("sub/keep.tmp"));
        assert!(f.allows("photo.jpg"));
        let only_includes = filters(&[("+", "*.jpg"), ("+", "/docs/**")]);
        assert!(only_includes.allows("x/y.jpg"));
        assert!(only_includes.allows("docs/a/b.txt"));
        assert!(!only_includes.allows("x/docs/b.txt"));
        assert!(!only_includes.allows("notes.txt"));
        let star = filters(&[("-", "/*.log")]);
        assert!(!star.allows("a.log"));
        assert!(star.allows("sub/a.log"));
        assert!(PathFilters::default().allows("anything"));
        assert!(PathFilters::new(vec![FilterRule::Include("[".into())]).is_err());
    }

    #[test]
    fn excluded_files_are_counted_not_planned() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("sub")).unwrap();
        for name in ["a.tmp", "keep.tmp", "b.txt", "sub/c.tmp"] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        let f = filters(&[("-", "*.tmp"), ("+", "keep.tmp")]);
        let plan = plan_folder_filtered(dir.path(), "p/", &f);
        let keys: Vec<_> = plan.files.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["p/b.txt", "p/keep.tmp"]);
        assert_eq!(plan.excluded, 2);
    }

    #[test]
    fn a_missing_folder_is_one_problem() {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan_folder(&dir.path().join("gone"), "");
        assert!(plan.files.is_empty());
        assert_eq!(plan.problems.len(), 1);
        assert!(plan.problems[0].contains("no such file or folder"));
    }

    #[cfg(unix)]
    #[test]
    fn a_name_that_is_not_utf8_is_refused_not_mangled() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let bad = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
        fs::write(dir.path().join(bad), b"x").unwrap();
        fs::write(dir.path().join("ok.txt"), b"y").unwrap();
        let plan = plan_folder(dir.path(), "p/");
        assert_eq!(plan.files.len(), 1);
        assert_eq!(plan.files[0].key, "p/ok.txt");
        assert_eq!(plan.problems.len(), 1);
        assert!(plan.problems[0].contains("not valid UTF-8"));
        assert!(file_key("p/", &dir.path().join(bad)).is_err());
        assert!(folder_key_prefix("", &dir.path().join(bad)).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_skipped_with_a_reason_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.txt"), b"s").unwrap();
        fs::write(dir.path().join("real.txt"), b"r").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            dir.path().join("link.txt"),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("linked-folder")).unwrap();
        let items: Vec<_> = FolderWalk::new(dir.path(), "p/").collect();
        let sent: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                FolderItem::File(f) => Some(f.key.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(sent, ["p/real.txt"]);
        let skipped: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                FolderItem::NotSent(n) if n.skipped => Some(n.relative.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            skipped,
            [PathBuf::from("link.txt"), PathBuf::from("linked-folder")]
        );
        let FolderItem::NotSent(link) = &items[0] else {
            panic!("{items:?}")
        };
        assert!(link.reason.contains("symbolic link"), "{}", link.reason);
    }

    #[cfg(unix)]
    #[test]
    fn following_links_walks_linked_folders_once_and_reports_a_loop() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("real")).unwrap();
        fs::write(root.join("real/a.txt"), b"a").unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("o.txt"), b"o").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("linked")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("real/back-to-root")).unwrap();
        std::os::unix::fs::symlink(outside.join("o.txt"), root.join("file-link")).unwrap();
        let items: Vec<_> = FolderWalk::new(&root, "p/")
            .following_symlinks(true)
            .collect();
        let mut sent: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                FolderItem::File(f) => Some(f.key.as_str()),
                _ => None,
            })
            .collect();
        sent.sort();
        assert_eq!(sent, ["p/file-link", "p/linked/o.txt", "p/real/a.txt"]);
        let looped: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                FolderItem::NotSent(n) if n.skipped => Some(n.relative.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(looped, [PathBuf::from("real/back-to-root")]);
    }
}
