//! What drawing asks for: views push [`UiCommand`]s while they draw, and the app applies
//! them after the frame, so no view ever touches the engine, the disk or the network.

use std::path::PathBuf;

use crate::engine::EngineCommand;

use super::overwrite::ExistingChoice;
use super::transfer_list::ListAction;

/// Which file dialog to open (off the UI thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickKind {
    Files,
    Folder,
}

/// A request produced while drawing.
#[derive(Debug, Clone)]
pub enum UiCommand {
    /// Upload these files or folders to the current destination (asking first when some
    /// of their objects already exist).
    AddPaths(Vec<PathBuf>),
    /// The answer to "N of these files already exist": add the files of the question on
    /// screen with `choice`, and with `apply_to_all` use it from now on without asking.
    AnswerExisting {
        choice: ExistingChoice,
        apply_to_all: bool,
    },
    /// Cancel on that question: the question's files are not added.
    CancelExistingAdd,
    OpenPicker(PickKind),
    /// A transfer command passed to the engine as it is: pause, resume, retry, start
    /// over, forget, pause or resume all, and abort once the user confirmed it.
    Engine(EngineCommand),
    /// A bulk action on the transfers list's selection (from its bar or the keyboard).
    List(ListAction),
    /// (Re)list in-progress uploads of the cleanup view's bucket and prefix from the start.
    ListRemoteUploads,
    /// Fetch the next page of in-progress uploads.
    ListMoreRemoteUploads,
    /// Count parts and bytes of one in-progress upload (`key`, `upload_id`).
    LoadRemoteParts {
        key: String,
        upload_id: String,
    },
    /// Abort these in-progress uploads (`key`, `upload_id`).
    AbortRemoteUploads(Vec<(String, String)>),
    /// Have the bucket abort uploads under the view's prefix this many days after they
    /// start (our lifecycle rule; `None` removes it).
    SetAutoAbort(Option<i64>),
    /// Resume the local session that owns this upload id.
    ResumeRemoteUpload {
        upload_id: String,
    },
    /// Ask the endpoint of the profile being edited (unsaved values) what it answers.
    TestConnection,
    /// List the buckets the edited profile's key can list, for the bucket picker.
    ListBuckets,
    /// Save the settings form (profiles and tuning) and apply it.
    SaveSettings,
    /// Remove this profile from the config file (confirmed in the view).
    DeleteProfile(String),
    /// Pause every upload and close the window (the answer to the quit question).
    PauseAndQuit,
    /// Point new transfers at this profile (`None`: the embedded local endpoint).
    SelectProfile(Option<String>),
}
