//! Custom widgets: the part map (one mesh per transfer) and the drop overlay.

pub mod drop_overlay;
pub mod part_map;
