//! Opening, creating and mapping the tables file.
//!
//! # Design
//!
//! * Every open uses `O_NOFOLLOW` (a symbolic link at the path is refused,
//!   not followed), `O_NOCTTY` and `O_NONBLOCK` (a device or FIFO planted at
//!   the path neither becomes the controlling terminal nor blocks the open),
//!   then `fstat` refuses anything but a regular file.
//! * A file is checked (header read with `pread`, `layout::check_header`)
//!   before it is mapped, so a wrong file is a typed error and never a
//!   mapping shorter than the layout.
//! * A new file is never built in place: the data plane creates a temporary
//!   file (mode 0600, `O_EXCL`) next to the path, sizes it, writes the header
//!   through the mapping with the magic stored last, and only then publishes
//!   it: `link` (fails if someone else published first) for a new file,
//!   `rename` (atomic replace) when replacing an invalid one. A control
//!   plane therefore sees either no file or a complete one, and a process
//!   that still maps a replaced file keeps its own (now unlinked) copy
//!   instead of taking `SIGBUS` from a truncation.
//! * A temporary file left by a crash between create and publish is named
//!   `.<name>.<pid>.<n>.tmp` in the same directory.

use std::ffi::OsString;
use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU64, Ordering};

use memmap2::MmapOptions;
use zerocopy::IntoBytes;

use super::error::TablesError;
use super::layout::{check_header, RawHeader, HEADER_LEN, MAGIC_OFFSET, TABLES_FILE_LEN};
use super::region::SharedRegion;

/// File mode of the tables file: it holds migration keys.
pub const TABLES_FILE_MODE: u32 = 0o600;
/// Attempts of `create_or_attach` when the file appears and disappears
/// under it (another process creating or removing it at the same moment).
const CREATE_ATTEMPTS_MAX: u32 = 4;
/// Distinguishes temporary files of one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Whether `create_or_attach` made a new file or found a valid one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A new file was published (generation 1).
    Created,
    /// A valid existing file was attached.
    Existing,
}

fn io_error<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> TablesError + 'a {
    move |source| TablesError::Io {
        path: path.to_owned(),
        op,
        source,
    }
}

/// Opens an existing file read-write; `None` if there is none.
fn open_existing(path: &Path) -> Result<Option<(File, u64)>, TablesError> {
    let opened = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // ELOOP: a symbolic link (O_NOFOLLOW); EISDIR: a directory; ENXIO: a socket.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ELOOP | libc::EISDIR | libc::ENXIO)
            ) =>
        {
            return Err(TablesError::NotRegularFile {
                path: path.to_owned(),
            })
        }
        Err(e) => return Err(io_error(path, "open")(e)),
    };
    let meta = file.metadata().map_err(io_error(path, "stat"))?;
    if !meta.file_type().is_file() {
        return Err(TablesError::NotRegularFile {
            path: path.to_owned(),
        });
    }
    Ok(Some((file, meta.len())))
}

/// Reads the header with `pread` and checks it and the length.
fn check_file(path: &Path, file: &File, len: u64) -> Result<(), TablesError> {
    let head_len = usize::try_from(len).map_or(HEADER_LEN, |len| len.min(HEADER_LEN));
    let mut head = vec![0u8; head_len];
    file.read_exact_at(&mut head, 0)
        .map_err(io_error(path, "read header"))?;
    check_header(path, &head, len)
}

/// Maps the whole layout of a checked file, shared and read-write.
fn map(path: &Path, file: &File) -> Result<SharedRegion, TablesError> {
    let map = MmapOptions::new()
        .len(TABLES_FILE_LEN)
        .map_raw(file)
        .map_err(io_error(path, "mmap"))?;
    Ok(SharedRegion::new(map))
}

/// Control plane: open, check and map an existing file.
pub(crate) fn attach_existing(path: &Path) -> Result<SharedRegion, TablesError> {
    let (file, len) = open_existing(path)?
        .ok_or_else(|| io_error(path, "open")(io::Error::from(io::ErrorKind::NotFound)))?;
    check_file(path, &file, len)?;
    map(path, &file)
}

/// Data plane: attach to a valid file, create one if there is none, and
/// replace an invalid one if `replace_invalid`.
pub(crate) fn create_or_attach(
    path: &Path,
    pid: u32,
    replace_invalid: bool,
) -> Result<(SharedRegion, Origin), TablesError> {
    for _ in 0..CREATE_ATTEMPTS_MAX {
        match open_existing(path)? {
            Some((file, len)) => match check_file(path, &file, len) {
                Ok(()) => {
                    restrict_mode(path, &file)?;
                    return Ok((map(path, &file)?, Origin::Existing));
                }
                Err(e) if replace_invalid && e.is_invalid_file() => {
                    let region = create_fresh(path, pid, Publish::Replace)?
                        .expect("rename always publishes");
                    return Ok((region, Origin::Created));
                }
                Err(e) => return Err(e),
            },
            None => {
                if let Some(region) = create_fresh(path, pid, Publish::NoReplace)? {
                    return Ok((region, Origin::Created));
                }
                // Someone else published a file first: attach to it.
            }
        }
    }
    Err(io_error(path, "create")(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "the file kept appearing and disappearing",
    )))
}

/// Makes an existing file mode 0600 (it may have been created by hand).
fn restrict_mode(path: &Path, file: &File) -> Result<(), TablesError> {
    let mode = file
        .metadata()
        .map_err(io_error(path, "stat"))?
        .permissions()
        .mode();
    if mode & 0o7777 != TABLES_FILE_MODE {
        file.set_permissions(Permissions::from_mode(TABLES_FILE_MODE))
            .map_err(io_error(path, "chmod"))?;
    }
    Ok(())
}

/// How a freshly built file is put at the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Publish {
    /// `link`: fails if the path exists.
    NoReplace,
    /// `rename`: atomically replaces what is at the path.
    Replace,
}

/// Removes the temporary file on early return.
struct TmpFile<'a>(Option<&'a Path>);

impl Drop for TmpFile<'_> {
    fn drop(&mut self) {
        if let Some(path) = self.0 {
            // Best effort on an error path: the error being returned matters more.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The temporary path next to `path`.
fn tmp_path(path: &Path, pid: u32) -> Result<PathBuf, TablesError> {
    let name = path.file_name().ok_or_else(|| {
        io_error(path, "create")(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path has no file name",
        ))
    })?;
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{pid}.{n}.tmp"));
    Ok(path.with_file_name(tmp_name))
}

/// Builds a complete file under a temporary name and publishes it at
/// `path`. `Ok(None)`: `NoReplace` found the path taken.
fn create_fresh(
    path: &Path,
    pid: u32,
    publish: Publish,
) -> Result<Option<SharedRegion>, TablesError> {
    let tmp = tmp_path(path, pid)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(TABLES_FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(&tmp)
        .map_err(io_error(&tmp, "create"))?;
    let mut guard = TmpFile(Some(&tmp));
    // The umask may have removed bits of 0600; set them exactly.
    file.set_permissions(Permissions::from_mode(TABLES_FILE_MODE))
        .map_err(io_error(&tmp, "chmod"))?;
    let file_len = u64::try_from(TABLES_FILE_LEN).expect("2 MiB fits in u64");
    file.set_len(file_len)
        .map_err(io_error(&tmp, "set length"))?;
    let region = map(&tmp, &file)?;
    write_header(&region, &RawHeader::fresh(pid));
    match publish {
        Publish::Replace => {
            std::fs::rename(&tmp, path).map_err(io_error(path, "rename"))?;
            guard.0 = None;
        }
        Publish::NoReplace => match std::fs::hard_link(&tmp, path) {
            Ok(()) => {
                guard.0 = None;
                std::fs::remove_file(&tmp).map_err(io_error(&tmp, "remove temporary"))?;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
            Err(e) => return Err(io_error(path, "link")(e)),
        },
    }
    Ok(Some(region))
}

/// Stores a header into a file no other process can see yet; the magic
/// goes last so that a half-written header never looks valid.
fn write_header(region: &SharedRegion, header: &RawHeader) {
    let bytes = header.as_bytes();
    for at in (0..HEADER_LEN).step_by(8).filter(|&at| at != MAGIC_OFFSET) {
        let word = u64::from_ne_bytes(bytes[at..at + 8].try_into().expect("a word is 8 bytes"));
        region.word(at).store(word, Ordering::Relaxed);
    }
    fence(Ordering::Release);
    let magic = u64::from_ne_bytes(bytes[..8].try_into().expect("a word is 8 bytes"));
    region.word(MAGIC_OFFSET).store(magic, Ordering::Release);
}
