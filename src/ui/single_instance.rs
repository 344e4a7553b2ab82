//! One window per user: the window listens on a Unix socket in the runtime directory, and
//! a second `ossup --add PATH…` hands its paths to it and exits instead of opening another
//! window.
//!
//! The message is the paths, made absolute by the sender (its working directory is not
//! the window's), each followed by a NUL byte; the listener answers `ok\n` once it queued
//! them. A socket file nobody listens on (a window that crashed) is removed and taken over.
//! Nothing here touches egui: the window drains an [`Inbox`] each frame.

use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use crate::config::AppPaths;

/// Environment variable naming the runtime directory (a per-user tmpfs on Linux).
pub const ENV_RUNTIME_DIR: &str = "XDG_RUNTIME_DIR";
/// The socket's file name.
const SOCKET_NAME: &str = "ossup-window.sock";
/// A hand-over is a list of paths: more than this is not one.
const MAX_MESSAGE_BYTES: u64 = 4 << 20;
/// How long either side waits for the other before giving up.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the window listens: the runtime directory, else the folder of the user's data.
pub fn socket_path(runtime_dir: Option<PathBuf>, paths: &AppPaths) -> PathBuf {
    let dir = runtime_dir
        .filter(|dir| dir.is_absolute() && dir.is_dir())
        .or_else(|| paths.sessions_dir.parent().map(Path::to_path_buf))
        .unwrap_or_else(std::env::temp_dir);
    dir.join(SOCKET_NAME)
}

/// [`socket_path`] with the process's runtime directory.
pub fn socket_path_for_user(paths: &AppPaths) -> PathBuf {
    socket_path(std::env::var_os(ENV_RUNTIME_DIR).map(PathBuf::from), paths)
}

/// Gives `add` to the window listening at `socket`. `Ok(false)`: no window listens.
pub fn hand_over(socket: &Path, add: &[PathBuf]) -> io::Result<bool> {
    let mut stream = match UnixStream::connect(socket) {
        Ok(stream) => stream,
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(false);
        }
        Err(error) => return Err(error),
    };
    stream.set_read_timeout(Some(PEER_TIMEOUT))?;
    stream.set_write_timeout(Some(PEER_TIMEOUT))?;
    let mut message = Vec::new();
    for path in add {
        let absolute = std::path::absolute(path)?;
        message.extend_from_slice(absolute.as_os_str().as_bytes());
        message.push(0);
    }
    stream.write_all(&message)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut answer = String::new();
    stream.take(16).read_to_string(&mut answer)?;
    if answer == "ok\n" {
        Ok(true)
    } else {
        Err(io::Error::other(format!(
            "the running window answered {answer:?} instead of taking the paths"
        )))
    }
}

/// A bound socket, not yet accepting.
pub struct Listener {
    listener: UnixListener,
    path: PathBuf,
}

impl Listener {
    /// Binds `socket`, taking it over when the file is left from a window that is gone.
    /// Fails when another window answers there (hand over to it instead).
    pub fn bind(socket: &Path) -> io::Result<Self> {
        let listener = match UnixListener::bind(socket) {
            Ok(listener) => listener,
            Err(error) if error.kind() == io::ErrorKind::AddrInUse => {
                if UnixStream::connect(socket).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("another ossup window listens on {}", socket.display()),
                    ));
                }
                tracing::info!("removing the stale socket {}", socket.display());
                std::fs::remove_file(socket)?;
                UnixListener::bind(socket)?
            }
            Err(error) => return Err(error),
        };
        Ok(Self {
            listener,
            path: socket.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts hand-overs on a thread of its own; `wake` runs after each one is queued.
    pub fn serve(self, wake: impl Fn() + Send + 'static) -> Inbox {
        let (sender, receiver) = mpsc::channel();
        let path = self.path.clone();
        let listener = self.listener;
        std::thread::Builder::new()
            .name("ossup-single-instance".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    match receive(stream) {
                        Ok(paths) => {
                            if sender.send(paths).is_err() {
                                return;
                            }
                            wake();
                        }
                        Err(error) => tracing::warn!("a hand-over was not understood: {error}"),
                    }
                }
            })
            .map(drop)
            .unwrap_or_else(|error| tracing::warn!("cannot listen for other windows: {error}"));
        Inbox { receiver, path }
    }
}

/// Reads one hand-over and acknowledges it.
fn receive(mut stream: UnixStream) -> io::Result<Vec<PathBuf>> {
    stream.set_read_timeout(Some(PEER_TIMEOUT))?;
    stream.set_write_timeout(Some(PEER_TIMEOUT))?;
    let mut message = Vec::new();
    (&mut stream)
        .take(MAX_MESSAGE_BYTES)
        .read_to_end(&mut message)?;
    let paths = message
        .split(|byte| *byte == 0)
        .filter(|path| !path.is_empty())
        .map(|path| PathBuf::from(std::ffi::OsString::from_vec(path.to_vec())))
        .collect();
    stream.write_all(b"ok\n")?;
    Ok(paths)
}

/// Hand-overs received, drained by the window each frame. Removes the socket file when
/// dropped (the window closed).
pub struct Inbox {
    receiver: mpsc::Receiver<Vec<PathBuf>>,
    path: PathBuf,
}

impl Inbox {
    /// Each hand-over waiting right now (an empty list only asks for the window).
    pub fn drain(&self) -> Vec<Vec<PathBuf>> {
        self.receiver.try_iter().collect()
    }

    /// Waits up to `timeout` for the next hand-over.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Vec<PathBuf>> {
        self.receiver.recv_timeout(timeout).ok()
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_reach_the_listener_and_a_stale_socket_is_taken_over() {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("s.sock");
        assert!(!hand_over(&socket, &[]).expect("no socket file"));
        // A socket file nobody listens on, as a crashed window leaves it.
        drop(UnixListener::bind(&socket).expect("bind"));
        assert!(socket.exists());
        assert!(!hand_over(&socket, &[]).expect("nobody listens"));
        let inbox = Listener::bind(&socket).expect("taken over").serve(|| {});
        assert!(
            Listener::bind(&socket).is_err(),
            "a second window listens too"
        );
        let name = PathBuf::from("/tmp/a file\nwith a newline");
        assert!(hand_over(&socket, std::slice::from_ref(&name)).expect("handed over"));
        assert_eq!(inbox.recv_timeout(PEER_TIMEOUT), Some(vec![name]));
        drop(inbox);
        assert!(!socket.exists(), "the socket is removed with the window");
    }
}
