//! Checks of the files and directories a configuration names, done at
//! startup (`ControlPlaneConfig::validate_files`) and not while parsing, so
//! that a configuration can be parsed and checked on another machine.

use super::error::ConfigError;
use std::fs;
use std::path::Path;

/// `path` must be a regular file this process can open for reading.
pub(crate) fn readable_file(field: &str, path: &Path) -> Result<(), ConfigError> {
    let error = |reason: String| ConfigError::File {
        field: field.to_owned(),
        path: path.to_path_buf(),
        reason,
    };
    let metadata = fs::metadata(path).map_err(|e| error(format!("cannot be read: {e}")))?;
    if !metadata.is_file() {
        return Err(error("is not a regular file".to_owned()));
    }
    fs::File::open(path).map_err(|e| error(format!("cannot be opened for reading: {e}")))?;
    Ok(())
}

/// `path` must be an existing directory.
pub(crate) fn directory(field: &str, path: &Path) -> Result<(), ConfigError> {
    let error = |reason: String| ConfigError::File {
        field: field.to_owned(),
        path: path.to_path_buf(),
        reason,
    };
    let metadata = fs::metadata(path).map_err(|e| error(format!("cannot be read: {e}")))?;
    if metadata.is_dir() {
        Ok(())
    } else {
        Err(error("is not a directory".to_owned()))
    }
}

/// The directory that holds `path` must exist (the file itself may not yet).
pub(crate) fn parent_directory(field: &str, path: &Path) -> Result<(), ConfigError> {
    let parent = path.parent().ok_or_else(|| ConfigError::File {
        field: field.to_owned(),
        path: path.to_path_buf(),
        reason: "has no parent directory".to_owned(),
    })?;
    directory(field, parent).map_err(|e| match e {
        ConfigError::File {
            field,
            path,
            reason,
        } => ConfigError::File {
            field,
            path,
            reason: format!("parent directory {reason}"),
        },
        other => other,
    })
}
