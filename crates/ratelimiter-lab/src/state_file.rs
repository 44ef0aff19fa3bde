//! JSON state files, read, written atomically and removed the same way by every environment.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// An environment's record of what it started, kept as one JSON file in its state directory.
pub trait StateFile: Serialize + DeserializeOwned {
    /// The file's name in the state directory.
    const FILE: &'static str;

    /// Path of the state file in `dir`.
    fn path(dir: &Path) -> PathBuf {
        dir.join(Self::FILE)
    }

    /// Reads the state file of `dir`, `None` when there is none.
    ///
    /// # Errors
    /// When it exists but cannot be read or parsed.
    fn load(dir: &Path) -> Result<Option<Self>> {
        load(&Self::path(dir))
    }

    /// Writes the state file of `dir` atomically.
    ///
    /// # Errors
    /// When it cannot be written.
    fn save(&self, dir: &Path) -> Result<()> {
        save(self, &Self::path(dir))
    }

    /// Removes the state file of `dir`; a missing one is fine.
    ///
    /// # Errors
    /// When it exists and cannot be removed.
    fn remove(dir: &Path) -> Result<()> {
        remove(&Self::path(dir))
    }
}

/// Reads the JSON file at `path`, `None` when there is none.
///
/// # Errors
/// When it exists but cannot be read or parsed.
fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::State {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| Error::StateFormat {
            path: path.to_owned(),
            source,
        })
}

/// Writes `value` as pretty JSON at `path`, atomically (a temporary file renamed over it),
/// readable by its owner only (mode 0600): a state file may hold the stack's secrets.
///
/// # Errors
/// When it cannot be written.
fn save<T: Serialize>(value: &T, path: &Path) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let text = serde_json::to_string_pretty(value).map_err(|source| Error::StateFormat {
        path: path.to_owned(),
        source,
    })?;
    write_private(Path::new(&tmp), &(text + "\n"))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| Error::State {
            path: path.to_owned(),
            source,
        })
}

/// Writes `text` to a new file at `path` with mode 0600 (an older file is replaced, and its
/// mode reset, too).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())
}

/// Removes the file at `path`; a missing file is fine.
///
/// # Errors
/// When it exists and cannot be removed.
fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::State {
            path: path.to_owned(),
            source,
        }),
    }
}
