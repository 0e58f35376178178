//! The I/O shell of `dwcp-linkem`: TUN devices, namespaces, the forwarding
//! loop, signals, JSON lines, and the probe helpers.

pub mod capacity;
pub mod cli;
pub mod forwarder;
pub mod netns;
pub mod probe;
pub mod profiles;
pub mod report;
pub mod run;
pub mod sched;
pub mod signals;
pub mod tun;
