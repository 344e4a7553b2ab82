//! Custom widgets: the part map (one mesh per transfer), the drop overlay, and a labelled
//! drop-down of fixed choices.

pub mod choice;
pub mod drop_overlay;
pub mod part_map;
