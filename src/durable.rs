//! Writes that survive a crash or a power cut: the one place ossup fsyncs and renames.
//!
//! A file replaced in place can be left torn by a crash, and a rename the directory has
//! not been flushed for can be undone by a power cut. So every write that must last goes
//! the same way: a temporary file in the destination's own directory, the bytes, an
//! fsync of the file, a rename over the destination, an fsync of the directory. A crash
//! at any point leaves the old file or the new one, plus at worst a temporary file whose
//! name [`is_temp_name`] recognises; every error path removes that temporary file.
//!
//! The session store, the config file and `ossup serve`'s records and blobs all use it;
//! it depends on nothing else in the crate, so every layer may.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Marks temporary files: `.<destination name>.tmp-<unique>`.
const TEMP_MARK: &str = ".tmp-";

/// How many fresh names [`write_file`] tries before giving up on a crowded directory.
const TEMP_NAME_ATTEMPTS: u32 = 16;

/// Writes `contents` to `path` durably, replacing any file there. With `mode` (Unix
/// permission bits such as `0o600`) the file has that mode before any byte is written;
/// elsewhere `mode` is ignored.
pub fn write_file(path: &Path, contents: &[u8], mode: Option<u32>) -> io::Result<()> {
    let dir = parent_dir(path);
    let (temp, mut file) = create_temp(dir, path, mode)?;
    let written = (|| {
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)?;
        sync_dir(dir)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// Moves `temp`, a file already fully written (a body streamed to disk), to `path`
/// durably: fsync of the file, rename, fsync of the destination's directory. `temp`
/// must be on the same file system; it is removed if the move fails.
pub fn persist(temp: &Path, path: &Path) -> io::Result<()> {
    let moved = (|| {
        File::open(temp)?.sync_all()?;
        fs::rename(temp, path)?;
        sync_dir(parent_dir(path))
    })();
    if moved.is_err() {
        let _ = fs::remove_file(temp);
    }
    moved
}

/// Renames a file or directory to `aside` (to keep what cannot be used without deleting
/// it) and flushes both directories. Nothing is removed on failure.
pub fn set_aside(path: &Path, aside: &Path) -> io::Result<()> {
    fs::rename(path, aside)?;
    sync_dir(parent_dir(aside))?;
    sync_dir(parent_dir(path))
}

/// Creates `dir` and any missing parents, flushing each directory that gained an entry,
/// so the new directory survives a power cut along with what is written into it.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut missing: Vec<PathBuf> = Vec::new();
    let mut next = Some(dir);
    while let Some(candidate) = next.filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
        missing.push(candidate.to_owned());
        next = candidate.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    for created in missing.iter().rev() {
        sync_dir(parent_dir(created))?;
    }
    Ok(())
}

/// Flushes a directory's entries (the renames, creations and removals in it).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    // Directories can be opened and fsynced on Unix; elsewhere a rename is as durable as
    // the platform makes it.
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Whether `file_name` is one of [`write_file`]'s temporary files, which a crash may
/// leave behind and which nothing ever names.
pub fn is_temp_name(file_name: &str) -> bool {
    file_name.starts_with('.') && file_name.contains(TEMP_MARK)
}

fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A new file beside `path` under a name no other writer (thread or process) uses.
fn create_temp(dir: &Path, path: &Path, mode: Option<u32>) -> io::Result<(PathBuf, File)> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut attempt = 0;
    loop {
        let unique = format!(
            "{}-{}-{:08x}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let temp = dir.join(format!(".{file_name}{TEMP_MARK}{unique}"));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        match options.open(&temp) {
            Ok(file) => {
                // The umask may have taken bits away from the requested mode.
                if let Err(e) = set_mode(&file, mode) {
                    let _ = fs::remove_file(&temp);
                    return Err(e);
                }
                return Ok((temp, file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < TEMP_NAME_ATTEMPTS => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn set_mode(file: &File, mode: Option<u32>) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (file, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_and_overwrites_leaving_only_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record.json");
        write_file(&path, b"first", None).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        write_file(&path, b"second, longer", None).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second, longer");
        assert_eq!(names_in(dir.path()), ["record.json"]);
    }

    #[test]
    fn a_failed_rename_removes_the_temp_file_and_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory cannot be replaced by a file: the rename fails after the
        // temporary file was written and flushed.
        let path = dir.path().join("occupied");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"kept").unwrap();
        assert!(write_file(&path, b"new", None).is_err());
        assert_eq!(names_in(dir.path()), ["occupied"]);
        assert_eq!(fs::read(path.join("inside")).unwrap(), b"kept");
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_stray_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("record.json");
        assert!(write_file(&path, b"x", None).is_err());
        assert!(names_in(dir.path()).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn the_mode_is_set_before_the_bytes_and_survives_the_rename() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let (temp, _file) = create_temp(dir.path(), &path, Some(0o600)).unwrap();
        assert_eq!(
            fs::metadata(&temp).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::remove_file(&temp).unwrap();

        write_file(&path, b"secret", Some(0o600)).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"secret");
    }

    #[test]
    fn temp_names_are_recognised_and_unique() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        let (first, _a) = create_temp(dir.path(), &path, None).unwrap();
        let (second, _b) = create_temp(dir.path(), &path, None).unwrap();
        assert_ne!(first, second);
        for temp in [&first, &second] {
            assert!(is_temp_name(temp.file_name().unwrap().to_str().unwrap()));
        }
        assert!(!is_temp_name("a.json"));
        assert!(!is_temp_name("part-00001.json"));
    }

    #[test]
    fn persist_moves_a_written_file_and_cleans_up_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join("body");
        fs::write(&temp, b"bytes").unwrap();
        let blob = dir.path().join("blob");
        persist(&temp, &blob).unwrap();
        assert_eq!(fs::read(&blob).unwrap(), b"bytes");
        assert!(!temp.exists());

        fs::write(&temp, b"more").unwrap();
        assert!(persist(&temp, &dir.path().join("absent").join("blob")).is_err());
        assert!(!temp.exists());
    }

    #[test]
    fn set_aside_and_create_dir_all() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a").join("b");
        create_dir_all(&nested).unwrap();
        create_dir_all(&nested).unwrap();
        fs::write(nested.join("f"), b"x").unwrap();
        let aside = dir.path().join("aside");
        set_aside(&nested, &aside).unwrap();
        assert_eq!(fs::read(aside.join("f")).unwrap(), b"x");
        assert!(!nested.exists());
    }
}
