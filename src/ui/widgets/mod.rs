//! Custom widgets: the part map (one mesh per transfer), the drop overlay and the
//! throughput graph.

pub mod drop_overlay;
pub mod part_map;
pub mod throughput_graph;
