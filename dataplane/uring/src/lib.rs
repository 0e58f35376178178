//! DWCP transport: multi-stream TCP driven by io_uring.
//!
//! # Design
//! One thread (the transport thread, pinned by the caller) owns one
//! `io_uring` instance and every TCP connection of a migration. Frame
//! buffers come from the migration's [`dwcp_hugepages::BufferPool`], which is
//! registered with the ring once, so page batches move with `WRITE_FIXED`
//! and `READ_FIXED` (no per-I/O page pinning). Each connection has at most
//! one write and one read in flight, which keeps TCP byte order trivially
//! right; parallelism comes from the M streams. Submissions are batched: a
//! pass queues every ready operation and submits once.
//!
//! Handshakes are not on the hot path and use blocking sockets on helper
//! threads ([`source_io::Reconnector`], the destination's acceptor); a
//! connection is handed to the transport thread only once established.
//!
//! Kernel requirements: io_uring with `IORING_REGISTER_BUFFERS` (5.1+),
//! `IORING_OP_SEND/RECV` (5.6+) and `IORING_ENTER_EXT_ARG` for waits with a
//! timeout (5.11+). Built and measured on 6.18.
#![warn(missing_docs)]

pub mod byte_window;
pub mod dest_io;
pub mod fault;
pub mod ring;
pub mod socket;
pub mod source_io;
pub mod user_data;
