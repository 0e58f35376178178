//! The DWCP control plane: a tokio process per host that programs the data
//! plane through shared-memory tables (`dwcp_shared::tables`), serves the
//! operators' HTTP API and Prometheus metrics, and talks to the control planes
//! of other hosts over mutually authenticated TLS.
#![warn(missing_docs)]

pub mod api_types;
pub mod cli;
pub mod config;
pub mod mode;
pub mod node;
pub mod peer;
pub mod place;
pub mod predict;
