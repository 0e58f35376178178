//! `PageBatch` frame body: many pages in one frame.
//!
//! ```text
//! batch header (BATCH_HEADER_LEN = 8)
//! offset  size  field
//!      0     4  round       u32 LE, precopy round the pages belong to
//!      4     2  page_count  u16 LE, 1..=PAGES_PER_BATCH_MAX
//!      6     2  reserved    must be 0
//! then page_count entries, each PAGE_ENTRY_LEN = 16 bytes + payload:
//!      0     8  page_index  u64 LE, < pages_total, unique within the batch
//!      8     1  encoding    PageEncoding (0 = Invalid)
//!      9     3  reserved    must be 0
//!     12     4  payload_len u32 LE: Raw = PAGE_SIZE, Zero = 0
//!     16     n  payload     payload_len bytes
//! ```
//!
//! No bytes may follow the last entry. `BatchWriter` (in `batch/writer.rs`)
//! builds a body in a caller buffer; `BatchView` (in `batch/view.rs`)
//! validates one completely before handing out `PageRef`s.

mod view;
mod writer;

pub use view::{BatchView, PageIter};
pub use writer::BatchWriter;

use crate::limits::PAGE_SIZE;

/// How a page's contents are carried in a batch entry.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageEncoding {
    /// Never valid on the wire.
    Invalid = 0,
    /// The payload is the page's `PAGE_SIZE` bytes verbatim.
    Raw = 1,
    /// The page is all zeros; the payload is empty.
    Zero = 2,
}

impl PageEncoding {
    /// Maps a wire byte to a valid encoding; 0 (`Invalid`) and unknown bytes give `None`.
    pub const fn from_wire(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Raw),
            2 => Some(Self::Zero),
            _ => None,
        }
    }

    /// The wire byte of this encoding.
    pub const fn to_wire(self) -> u8 {
        self as u8
    }

    /// The `payload_len` this encoding requires.
    pub const fn payload_len(self) -> u32 {
        match self {
            Self::Raw => PAGE_SIZE,
            Self::Zero | Self::Invalid => 0,
        }
    }
}

/// One page of a validated batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRef<'a> {
    /// Guest page index (byte offset / `PAGE_SIZE`).
    pub page_index: u64,
    /// How the payload encodes the page.
    pub encoding: PageEncoding,
    /// The payload: `PAGE_SIZE` bytes for `Raw`, empty for `Zero`.
    pub payload: &'a [u8],
}
