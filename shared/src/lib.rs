//! DWCP wire protocol v1 codec: pure encode/decode of every byte two DWCP
//! hosts exchange during a live memory migration.
//!
//! Layout of the crate (one main type per file):
//!
//! - [`limits`]: every size, bound and version constant.
//! - [`error`]: [`WireError`], one variant per rejection.
//! - [`frame`]: the 24-byte [`FrameHeader`] in front of every frame.
//! - [`batch`]: `PageBatch` bodies ([`BatchWriter`], [`BatchView`]).
//! - [`control`]: the small frame bodies ([`Ack`], [`RoundEnd`], [`Final`],
//!   [`VerifyResult`], [`Commit`], [`Goodbye`], [`Abort`]).
//! - [`handshake`]: the plaintext handshake messages ([`HandshakeMessage`]);
//!   its `read_from`/`write_to` are the only I/O in the crate.
//! - [`keys`], [`checksum`], [`digest`]: the exact bytes fed to the AEAD,
//!   the plaintext-mode tag and the memory digest.
//!
//! Decoders never panic on any input; all integers are little-endian;
//! discriminant 0 is `Invalid` on every enum so a zeroed buffer never decodes.
//! The specification is `docs/protocol.md`.

#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod batch;
pub mod checksum;
pub mod control;
pub mod digest;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod keys;
pub mod limits;
pub mod tables;

mod reason;
mod wire_reader;
mod wire_writer;

#[cfg(test)]
mod nopanic_test;

pub use batch::{BatchView, BatchWriter, PageEncoding, PageIter, PageRef};
pub use control::{Abort, AbortCode, Ack, Commit, Final, Goodbye, RoundEnd, VerifyResult};
pub use digest::MemoryDigest;
pub use error::WireError;
pub use frame::{FrameHeader, FrameKind, FRAME_FLAG_PLAINTEXT, FRAME_MAGIC};
pub use handshake::{
    ClientHello, ClientProof, HandshakeKind, HandshakeMessage, HandshakeReadError, Reject,
    RejectCode, ServerHello, HANDSHAKE_FLAG_INSECURE_PLAINTEXT, HANDSHAKE_MAGIC,
};
pub use limits::*;
