//! The question asked when added files would land on objects that already exist: one
//! modal for the whole Add, so dropping a folder never asks file by file.

use egui::{Context, RichText};

use crate::ui::command::UiCommand;
use crate::ui::overwrite::{ExistingChoice, OverwriteState};

/// Draws the first waiting question, if any; the answer is pushed as a command.
pub fn overwrite_question_ui(
    ctx: &Context,
    state: &mut OverwriteState,
    commands: &mut Vec<UiCommand>,
) {
    let Some(question) = state.questions.front() else {
        return;
    };
    let text = question.text();
    let files = question.add.paths.len();
    let mut answered = false;
    let modal = egui::Modal::new(egui::Id::unique("overwrite_question")).show(ctx, |ui| {
        ui.set_max_width(460.0);
        ui.heading("Replace existing objects?");
        ui.label(format!("{text}."));
        if state.questions.len() > 1 {
            ui.label(
                RichText::new(format!(
                    "{} more additions wait for an answer after this one.",
                    state.questions.len() - 1
                ))
                .weak(),
            );
        }
        ui.label(
            RichText::new(format!(
                "The answer applies to the {files} added item{}; files that do not exist \
                 yet are uploaded whatever you choose.",
                if files == 1 { "" } else { "s" }
            ))
            .weak(),
        );
        ui.add_space(6.0);
        ui.checkbox(&mut state.apply_to_all, "Apply to all")
            .on_hover_text("Use this answer for every file added from now on, without asking.");
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            let answers = [
                (
                    ExistingChoice::Overwrite,
                    "Overwrite",
                    "Replace the existing objects.",
                ),
                (
                    ExistingChoice::SkipExisting,
                    "Skip existing",
                    "Leave every existing object as it is.",
                ),
                (
                    ExistingChoice::SkipUnchanged,
                    "Skip unchanged",
                    "Leave an object of the same size that is not older than the file.",
                ),
            ];
            for (choice, label, hint) in answers {
                if ui.button(label).on_hover_text(hint).clicked() {
                    answered = true;
                    commands.push(UiCommand::AnswerExisting {
                        choice,
                        apply_to_all: state.apply_to_all,
                    });
                }
            }
            if ui
                .button("Cancel")
                .on_hover_text("Add none of these.")
                .clicked()
            {
                answered = true;
                commands.push(UiCommand::CancelExistingAdd);
            }
        });
    });
    // Escape or a click beside the question cancels, as the Cancel button does.
    if modal.should_close() && !answered {
        commands.push(UiCommand::CancelExistingAdd);
    }
}
