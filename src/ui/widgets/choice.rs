//! A drop-down that picks one of a fixed set of values, labelled by a label beside it so
//! screen readers (and the window tests) find it by that label.

use egui::{Id, Ui};

/// Shows `options` under the name each gets from `name_of`; a pick changes `value`.
pub fn choice_ui<T: Copy + PartialEq>(
    ui: &mut Ui,
    id_salt: &str,
    labelled_by: Id,
    value: &mut T,
    options: &[T],
    name_of: fn(T) -> &'static str,
) -> egui::Response {
    egui::ComboBox::from_id_salt(id_salt)
        .selected_text(name_of(*value))
        .show_ui(ui, |ui| {
            for &option in options {
                ui.selectable_value(value, option, name_of(option));
            }
        })
        .response
        .labelled_by(labelled_by)
}
