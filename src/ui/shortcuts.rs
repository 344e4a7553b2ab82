//! Keyboard shortcuts: Ctrl+O adds files, Ctrl+Q quits (asking while uploads run).
//! Ctrl +/- zooms through egui's own keyboard zoom. Each shortcut becomes the command a
//! click would give, so it behaves exactly like the button.

use egui::{Context, Key, KeyboardShortcut, Modifiers};

use super::command::{PickKind, UiCommand};

pub const ADD_FILES: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
pub const QUIT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Q);

/// What the keyboard asked for this frame.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shortcuts {
    pub quit: bool,
}

/// Consumes this frame's shortcuts; `can_add` says whether adding files is possible now.
pub fn shortcuts_ui(ctx: &Context, can_add: bool, commands: &mut Vec<UiCommand>) -> Shortcuts {
    let (add, quit) = ctx.input_mut(|input| {
        (
            input.consume_shortcut(&ADD_FILES),
            input.consume_shortcut(&QUIT),
        )
    });
    if add && can_add {
        commands.push(UiCommand::OpenPicker(PickKind::Files));
    }
    Shortcuts { quit }
}
