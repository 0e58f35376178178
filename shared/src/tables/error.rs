//! `TablesError`: every reason the shared-memory tables refuse a file, a
//! record or a value.
//!
//! Each variant names the file, table, slot or field involved and the bound
//! it broke, so a log line alone says what was wrong. Nothing in
//! [`crate::tables`] panics on the contents of the file; every defect found
//! there is one of these.

use std::path::PathBuf;

/// Why the tables file, a record in it, or a value to be written was refused.
#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    /// A system call on the tables file failed.
    #[error("{op} {}", path.display())]
    Io {
        /// The tables file (or the temporary file that becomes it).
        path: PathBuf,
        /// The operation that failed (`open`, `stat`, `read header`, `mmap`, ...).
        op: &'static str,
        /// The error the system call returned.
        #[source]
        source: std::io::Error,
    },
    /// The path is a symbolic link, a directory, a FIFO or a device.
    #[error("{} is not a regular file", path.display())]
    NotRegularFile {
        /// The path that was opened.
        path: PathBuf,
    },
    /// The file is shorter than the layout (or too short to hold a header).
    #[error("{} is truncated: {len} bytes, expected {expected}", path.display())]
    Truncated {
        /// The tables file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
        /// The length the layout requires.
        expected: u64,
    },
    /// The file does not start with `TABLES_MAGIC`.
    #[error("{} is not a tables file: magic {found:#018x}", path.display())]
    BadMagic {
        /// The tables file.
        path: PathBuf,
        /// The first 8 bytes, read little-endian.
        found: u64,
    },
    /// The file was written by a build with another layout version.
    #[error("{} has layout version {found}, this build supports {supported}", path.display())]
    Version {
        /// The tables file.
        path: PathBuf,
        /// The header's `layout_version`.
        found: u32,
        /// `TABLES_LAYOUT_VERSION` of this build.
        supported: u32,
    },
    /// A header field (or the file length) disagrees with the compiled layout.
    #[error("{} layout mismatch: {field} is {found}, expected {expected}", path.display())]
    Layout {
        /// The tables file.
        path: PathBuf,
        /// The header field, e.g. `job_statuses.record_len`, or `file_len`.
        field: &'static str,
        /// The value in the file.
        found: u64,
        /// The value of the compiled layout.
        expected: u64,
    },
    /// A slot index past the end of its table.
    #[error("{table} slot {slot} out of range (the table has {max} slots)")]
    Slot {
        /// The table.
        table: &'static str,
        /// The slot asked for.
        slot: usize,
        /// Number of slots in the table; valid slots are `0..max`.
        max: usize,
    },
    /// A record's sequence counter stayed odd or kept moving for the whole
    /// retry budget: a reader gave up after `SEQLOCK_RETRIES_MAX` attempts
    /// (its writer is mid-write, was preempted there, or rewrites it faster
    /// than it can be copied), or a writer waited about a second for another
    /// writer of the record. Transient unless a writer died mid-write; the
    /// owner's next attach resets such a record.
    #[error("{table} slot {slot} is torn: its writer did not settle")]
    Torn {
        /// The table.
        table: &'static str,
        /// The slot.
        slot: usize,
    },
    /// A field of a record is invalid: read from the file (unknown enum code,
    /// text length over its bound, bad UTF-8, NUL, zero where nonzero is
    /// required) or given to a writer (the same rules).
    #[error("{table} slot {slot} field {field}: {reason}")]
    Field {
        /// The table.
        table: &'static str,
        /// The slot.
        slot: usize,
        /// The field of the record.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A text value given to a writer is longer than its field.
    #[error("{field} is {len} bytes, longer than its bound of {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Length of the value in bytes (UTF-8).
        len: usize,
        /// The field's bound (`*_LEN_MAX`).
        max: usize,
    },
}

impl TablesError {
    /// True for the errors that mean "this file is not a valid table of this
    /// build" (wrong magic, version, length or layout): the ones
    /// `Tables::create_or_attach(.., replace_invalid = true)` replaces.
    pub fn is_invalid_file(&self) -> bool {
        matches!(
            self,
            Self::Truncated { .. }
                | Self::BadMagic { .. }
                | Self::Version { .. }
                | Self::Layout { .. }
        )
    }
}
