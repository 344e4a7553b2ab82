//! The transfer engine: a tokio runtime behind a handle. Front ends send
//! [`EngineCommand`]s and drain [`EngineEvent`]s; the engine never blocks them.

pub mod command;
pub mod event;
pub mod remote_uploads;
