//! The window's three views; each draws from its model and pushes commands.

pub mod profile_network;
pub mod remote_uploads;
pub mod settings;
pub mod transfers;
