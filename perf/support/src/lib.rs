//! What the DWCP benchmark tools (`dwcp-perf`, `dwcp-wan-bench`) share:
//! turning Ctrl-C / SIGTERM / SIGHUP into a flag their wait loops poll
//! ([`interrupt`]), and waiting for a receiver to listen without
//! connecting to it ([`listen`]).
#![warn(missing_docs)]

pub mod interrupt;
pub mod listen;
