//! Keyboard shortcuts: Ctrl+O adds files, Ctrl+Q quits (asking while uploads run), Ctrl+F
//! goes to the transfers list's name filter, and with rows selected Delete aborts them
//! (asking first) and Space pauses or resumes them. Ctrl +/- zooms through egui's own
//! keyboard zoom. Each shortcut becomes the command a click would give, so it behaves
//! exactly like the button.

use egui::{Context, Key, KeyboardShortcut, Modifiers};

use super::command::{PickKind, UiCommand};
use super::transfer_list::ListAction;

pub const ADD_FILES: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
pub const QUIT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Q);
pub const FIND: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::F);
pub const ABORT_SELECTED: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::Delete);
pub const PAUSE_OR_RESUME_SELECTED: KeyboardShortcut =
    KeyboardShortcut::new(Modifiers::NONE, Key::Space);

/// What the window allows this frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShortcutScope {
    /// Adding files is possible now (connected, no dialog open).
    pub can_add: bool,
    /// The transfers list is shown with rows selected and no question open, so Delete and
    /// Space act on the selection.
    pub selection_keys: bool,
}

/// What the keyboard asked for this frame.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shortcuts {
    pub quit: bool,
}

/// Consumes this frame's shortcuts.
pub fn shortcuts_ui(
    ctx: &Context,
    scope: ShortcutScope,
    commands: &mut Vec<UiCommand>,
) -> Shortcuts {
    // Delete and Space belong to a text field being typed in.
    let selection_keys = scope.selection_keys && !ctx.text_edit_focused();
    let (add, quit, find, abort, pause_or_resume) = ctx.input_mut(|input| {
        (
            input.consume_shortcut(&ADD_FILES),
            input.consume_shortcut(&QUIT),
            input.consume_shortcut(&FIND),
            selection_keys && input.consume_shortcut(&ABORT_SELECTED),
            selection_keys && input.consume_shortcut(&PAUSE_OR_RESUME_SELECTED),
        )
    });
    if add && scope.can_add {
        commands.push(UiCommand::OpenPicker(PickKind::Files));
    }
    if find {
        commands.push(UiCommand::List(ListAction::FocusFilter));
    }
    if abort {
        commands.push(UiCommand::List(ListAction::Abort));
    }
    if pause_or_resume {
        commands.push(UiCommand::List(ListAction::PauseOrResume));
    }
    Shortcuts { quit }
}
