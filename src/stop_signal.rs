//! The signals that ask ossup to stop: Ctrl-C, and on Unix also SIGTERM (a logout, a
//! service manager, `kill`) and SIGHUP (the terminal went away). Front ends answer them
//! by pausing, which saves every finished part, so what was shown as done is still done
//! after a restart; a leaf every front end may use.

/// Resolves when one of the stop signals arrives. Once awaited, the signals no longer end
/// the process by themselves: the caller must stop.
pub async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut terminate), Ok(mut hangup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            // Without the handlers the signals keep their default: the process ends, and
            // the sessions saved so far are what a restart finds.
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
            _ = hangup.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
