//! The engine's main task: owns the transfer table, applies commands, publishes events.

use tokio::sync::mpsc;

use super::handle::EventSink;
use super::{EngineCommand, EngineConfig, EngineEvent};

pub(crate) async fn run(
    _config: EngineConfig,
    mut commands: mpsc::UnboundedReceiver<EngineCommand>,
    sink: EventSink,
) {
    while let Some(command) = commands.recv().await {
        if let EngineCommand::Shutdown = command {
            break;
        }
    }
    sink.send(EngineEvent::Stopped);
    sink.wake();
}
