//! Files added onto keys that already exist. Before an Add from the window goes to the
//! engine, one bounded listing of the destination (off the UI thread) counts the files
//! whose objects are already there; when there are some, the window asks once whether to
//! replace them, skip them, or skip the unchanged ones, and "Apply to all" keeps that
//! answer for the rest of the run. The answer becomes the Add's overwrite policy, which
//! the engine applies file by file.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use crate::engine::folder_plan::{file_key, folder_key_prefix};
use crate::engine::{Destination, ExistingKeys, OverwritePolicy, common_prefix, existing_keys};
use crate::protocol::{ObjectRef, OssClient};

/// Most ListObjectsV2 pages (1000 keys each) the check reads; past them it says
/// "at least".
pub const MAX_LISTING_PAGES: usize = 10;

/// What to do with the files whose objects exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExistingChoice {
    Overwrite,
    SkipExisting,
    /// Skip an object of the same size that is not older than the file.
    SkipUnchanged,
}

impl ExistingChoice {
    pub fn policy(self) -> OverwritePolicy {
        match self {
            ExistingChoice::Overwrite => OverwritePolicy::Overwrite,
            ExistingChoice::SkipExisting => OverwritePolicy::SkipExisting,
            ExistingChoice::SkipUnchanged => OverwritePolicy::SkipUnchanged { checksum: false },
        }
    }
}

/// An Add from the window, held while its destination is checked or the question waits.
#[derive(Debug, Clone)]
pub struct HeldAdd {
    pub paths: Vec<PathBuf>,
    pub destination: Destination,
}

impl HeldAdd {
    /// `oss://bucket/prefix/`, as the question names it.
    pub fn destination_label(&self) -> String {
        ObjectRef::new(&self.destination.bucket, &self.destination.prefix).to_string()
    }
}

/// How many of an Add's files already have an object at their key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExistingCount {
    pub count: usize,
    /// The listing stopped before it could tell about every file: there may be more.
    pub at_least: bool,
}

/// Where one added path's files go: a file's own key, or a folder's key prefix.
enum AddedPath<'a> {
    File(String),
    Folder { root: &'a Path, key_prefix: String },
}

/// Counts the files of `paths` whose keys under `destination` exist, with one listing
/// of their common prefix. Blocking (the listing runs on `runtime`, and the files a
/// folder would send are looked up on disk): call it off the UI thread. Paths whose keys
/// cannot be made are left to the engine, which reports them when they are added.
pub fn count_existing(
    runtime: &tokio::runtime::Handle,
    client: &OssClient,
    destination: &Destination,
    paths: &[PathBuf],
) -> Result<ExistingCount, String> {
    let added: Vec<AddedPath> = paths
        .iter()
        .filter_map(|path| {
            if path.is_dir() {
                let key_prefix = folder_key_prefix(&destination.prefix, path).ok()?;
                Some(AddedPath::Folder {
                    root: path,
                    key_prefix,
                })
            } else {
                file_key(&destination.prefix, path)
                    .ok()
                    .map(AddedPath::File)
            }
        })
        .collect();
    if added.is_empty() {
        return Ok(ExistingCount {
            count: 0,
            at_least: false,
        });
    }
    let prefix = common_prefix(added.iter().map(|path| match path {
        AddedPath::File(key) => key.as_str(),
        AddedPath::Folder { key_prefix, .. } => key_prefix.as_str(),
    }));
    let listed = runtime
        .block_on(existing_keys(
            client,
            &destination.bucket,
            &prefix,
            MAX_LISTING_PAGES,
        ))
        .map_err(|error| error.to_string())?;
    Ok(count_in(&listed, &added))
}

fn count_in(listed: &ExistingKeys, added: &[AddedPath]) -> ExistingCount {
    let mut found = ExistingCount {
        count: 0,
        at_least: false,
    };
    for path in added {
        match path {
            AddedPath::File(key) => match listed.exists(key) {
                Some(true) => found.count += 1,
                Some(false) => {}
                None => found.at_least = true,
            },
            AddedPath::Folder { root, key_prefix } => {
                let (keys, all) = listed.under(key_prefix);
                found.count += keys
                    .filter(|key| local_file_of(root, &key[key_prefix.len()..]).is_some())
                    .count();
                found.at_least |= !all;
            }
        }
    }
    found
}

/// The file under `root` that the folder's walk would send to `relative` (a key below the
/// folder's prefix), when there is one. Keys the walk never makes (folder markers, `.`
/// or `..` segments) have none.
fn local_file_of(root: &Path, relative: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for segment in relative.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return None;
        }
        path.push(segment);
    }
    path.is_file().then_some(path)
}

/// The question, for one held Add.
#[derive(Debug, Clone)]
pub struct OverwriteQuestion {
    pub add: HeldAdd,
    pub existing: ExistingCount,
}

impl OverwriteQuestion {
    /// "3 of these files already exist in oss://bucket/prefix/".
    pub fn text(&self) -> String {
        let ExistingCount { count, at_least } = self.existing;
        let at_least = if at_least { "At least " } else { "" };
        let verb = if count == 1 && at_least.is_empty() {
            "exists"
        } else {
            "exist"
        };
        format!(
            "{at_least}{count} of these files already {verb} in {}",
            self.add.destination_label()
        )
    }
}

/// The window's side of the question: what waits, and what was answered for good.
#[derive(Debug, Default)]
pub struct OverwriteState {
    /// "Apply to all" was ticked with this answer: later Adds use it without a check.
    pub remembered: Option<ExistingChoice>,
    /// Adds whose files exist, waiting for an answer; the first is on screen.
    pub questions: VecDeque<OverwriteQuestion>,
    /// The question's "Apply to all" box.
    pub apply_to_all: bool,
    /// Checks still running.
    pub checking: usize,
}

impl OverwriteState {
    /// The Add the check found `existing` files of waits for an answer.
    pub fn ask(&mut self, add: HeldAdd, existing: ExistingCount) {
        self.questions
            .push_back(OverwriteQuestion { add, existing });
    }

    /// Takes the question on screen with `choice`; with `apply_to_all`, also every
    /// question behind it, and later Adds are not asked about. Returns the Adds to send.
    pub fn answer(&mut self, choice: ExistingChoice, apply_to_all: bool) -> Vec<HeldAdd> {
        let Some(first) = self.questions.pop_front() else {
            return Vec::new();
        };
        let mut answered = vec![first.add];
        if apply_to_all {
            self.remembered = Some(choice);
            answered.extend(self.questions.drain(..).map(|question| question.add));
        }
        self.apply_to_all = false;
        answered
    }

    /// Drops the question on screen: its files are not added.
    pub fn cancel(&mut self) -> Option<HeldAdd> {
        self.apply_to_all = false;
        self.questions.pop_front().map(|question| question.add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(count: usize, at_least: bool) -> OverwriteQuestion {
        OverwriteQuestion {
            add: HeldAdd {
                paths: vec![PathBuf::from("a.txt")],
                destination: Destination::new("local", "b", "in/"),
            },
            existing: ExistingCount { count, at_least },
        }
    }

    #[test]
    fn the_question_counts_what_exists() {
        assert_eq!(
            question(1, false).text(),
            "1 of these files already exists in oss://b/in/"
        );
        assert_eq!(
            question(3, true).text(),
            "At least 3 of these files already exist in oss://b/in/"
        );
    }

    #[test]
    fn apply_to_all_answers_the_questions_waiting_too() {
        let mut state = OverwriteState::default();
        state.ask(question(1, false).add, question(1, false).existing);
        state.ask(question(2, false).add, question(2, false).existing);
        assert_eq!(state.answer(ExistingChoice::SkipExisting, false).len(), 1);
        assert_eq!(state.remembered, None);
        state.ask(question(3, false).add, question(3, false).existing);
        assert_eq!(state.answer(ExistingChoice::Overwrite, true).len(), 2);
        assert_eq!(state.remembered, Some(ExistingChoice::Overwrite));
        assert!(state.questions.is_empty());
    }

    #[test]
    fn a_folder_key_names_a_file_only_below_the_folder() {
        let dir = tempfile::tempdir().expect("temporary folder");
        std::fs::create_dir(dir.path().join("sub")).expect("folder");
        std::fs::write(dir.path().join("sub").join("f.txt"), b"x").expect("file");
        assert!(local_file_of(dir.path(), "sub/f.txt").is_some());
        assert!(local_file_of(dir.path(), "sub/").is_none());
        assert!(local_file_of(dir.path(), "sub").is_none());
        assert!(local_file_of(dir.path(), "x/../sub/f.txt").is_none());
        assert!(local_file_of(dir.path(), "missing.txt").is_none());
    }
}
