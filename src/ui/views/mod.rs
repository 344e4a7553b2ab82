//! The window's three views; each draws from its model and pushes commands. The settings
//! view checks its fields in `settings_check`.

pub mod profile_network;
pub mod remote_uploads;
pub mod settings;
pub mod settings_check;
pub mod transfers;
