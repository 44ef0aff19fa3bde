//! JSON state files, read, written atomically and removed the same way by every environment.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Reads the JSON file at `path`, `None` when there is none.
///
/// # Errors
/// When it exists but cannot be read or parsed.
pub(crate) fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
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

/// Writes `value` as pretty JSON at `path`, atomically (a temporary file renamed over it).
///
/// # Errors
/// When it cannot be written.
pub(crate) fn save<T: Serialize>(value: &T, path: &Path) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let text = serde_json::to_string_pretty(value).map_err(|source| Error::StateFormat {
        path: path.to_owned(),
        source,
    })?;
    std::fs::write(&tmp, text + "\n")
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| Error::State {
            path: path.to_owned(),
            source,
        })
}

/// Removes the file at `path`; a missing file is fine.
///
/// # Errors
/// When it exists and cannot be removed.
pub(crate) fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::State {
            path: path.to_owned(),
            source,
        }),
    }
}
