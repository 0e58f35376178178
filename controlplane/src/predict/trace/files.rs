//! The I/O shell of the trace reader: finding trace files and reading them.

use super::{parse_trace, ParseOptions, TraceError, TraceFormat};
use crate::predict::ThroughputSeries;
use std::io::Read;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The largest trace file read: 256 MiB (the largest trace here is 3.4 MB).
pub const TRACE_FILE_BYTES_MAX: u64 = 256 << 20;

/// A trace file that cannot be used, naming the file.
#[derive(Debug, Error)]
pub enum TraceFileError {
    /// The file or directory cannot be read.
    #[error("{}: cannot read", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// Over [`TRACE_FILE_BYTES_MAX`].
    #[error("{}: {bytes} bytes is over the maximum of {TRACE_FILE_BYTES_MAX}", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// Not UTF-8 text.
    #[error("{}: not UTF-8 text", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// The text is not a usable trace.
    #[error("{}", path.display())]
    Trace {
        /// The file.
        path: PathBuf,
        /// Why, with the line.
        #[source]
        source: TraceError,
    },
}

impl TraceFileError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::TooLarge { path, .. }
            | Self::NotText { path }
            | Self::Trace { path, .. } => path,
        }
    }
}

/// A trace read from a file.
#[derive(Debug, Clone)]
pub struct LoadedTrace {
    /// The file.
    pub path: PathBuf,
    /// The format detected.
    pub format: TraceFormat,
    /// Its samples.
    pub series: ThroughputSeries,
}

/// Reads and parses one trace file.
pub fn load_trace_file(path: &Path, options: &ParseOptions) -> Result<LoadedTrace, TraceFileError> {
    let io = |source| TraceFileError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(TRACE_FILE_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let len = bytes.len() as u64;
    if len > TRACE_FILE_BYTES_MAX {
        return Err(TraceFileError::TooLarge {
            path: path.to_owned(),
            bytes: len,
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| TraceFileError::NotText {
        path: path.to_owned(),
    })?;
    let (format, series) = parse_trace(&text, options).map_err(|source| TraceFileError::Trace {
        path: path.to_owned(),
        source,
    })?;
    Ok(LoadedTrace {
        path: path.to_owned(),
        format,
        series,
    })
}

/// Which file names in a directory are traces.
///
/// Always skipped: names starting with `.` and names ending in `.md` (a
/// README beside the traces). Then a name must start with one of
/// `include_prefixes` (if any are given) and with none of
/// `exclude_prefixes`. Files named directly are taken as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameFilter {
    /// Keep only names starting with one of these (all if empty).
    pub include_prefixes: Vec<String>,
    /// Drop names starting with one of these.
    pub exclude_prefixes: Vec<String>,
}

impl NameFilter {
    /// Whether a file called `name`, found in a directory, is a trace.
    pub fn accepts(&self, name: &str) -> bool {
        if name.starts_with('.') || name.ends_with(".md") {
            return false;
        }
        let included = self.include_prefixes.is_empty()
            || self
                .include_prefixes
                .iter()
                .any(|p| name.starts_with(p.as_str()));
        included
            && !self
                .exclude_prefixes
                .iter()
                .any(|p| name.starts_with(p.as_str()))
    }
}

/// The trace files under `paths`: each directory's regular files (not
/// recursive) that pass `filter`, sorted by name, then each file named
/// directly, in the order given.
pub fn collect_trace_files(
    paths: &[PathBuf],
    filter: &NameFilter,
) -> Result<Vec<PathBuf>, TraceFileError> {
    let mut files = Vec::new();
    for path in paths {
        let io = |source| TraceFileError::Io {
            path: path.clone(),
            source,
        };
        if !std::fs::metadata(path).map_err(io)?.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // `fs::metadata` follows symbolic links, so a linked trace counts.
            let is_file = std::fs::metadata(entry.path()).map_err(io)?.is_file();
            if is_file && filter.accepts(name) {
                found.push(entry.path());
            }
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}
