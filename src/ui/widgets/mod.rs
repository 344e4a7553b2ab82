//! Custom widgets: the part map (one mesh per transfer), the drop overlay, the
//! throughput graph and a labelled drop-down of fixed choices.

pub mod choice;
pub mod drop_overlay;
pub mod part_map;
pub mod throughput_graph;
