//! The window's four views (transfers, history, in-progress uploads, settings); each draws from its model and pushes commands. The settings
//! view checks its fields in `settings_check`; `profile_checks` draws its Test connection
//! and bucket picker. `overwrite_question` asks what to do with files that already exist.

pub mod history;
pub mod overwrite_question;
pub mod profile_checks;
pub mod profile_network;
pub mod remote_uploads;
pub mod settings;
pub mod settings_check;
pub mod transfers;
