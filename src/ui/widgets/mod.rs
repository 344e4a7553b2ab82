//! Custom widgets: the part map (one mesh per transfer), a row's overall bar and status
//! line, the drop overlay, the throughput graph and a labelled drop-down of fixed choices.

pub mod choice;
pub mod drop_overlay;
pub mod overall_bar;
pub mod part_map;
pub mod status_line;
pub mod throughput_graph;
