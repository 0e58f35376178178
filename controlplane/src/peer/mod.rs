//! The link between the control planes of different hosts: mutually
//! authenticated TLS, one JSON request and one JSON response per connection.
//!
//! # Design
//!
//! Each host has an id (`host-a`), which is the only subjectAltName DNS name
//! of its certificate; one private CA signs every host's certificate
//! (`scripts/gen-certs.sh`). A client dials a peer's control address and
//! verifies the server's certificate for the peer's *id*; the server requires
//! a client certificate from the same CA and takes the client's id from it,
//! so a [`PeerHandler`] always knows who is asking. docs/peer-link.md is the
//! operator's view.
//!
//! ```mermaid
//! sequenceDiagram
//!     participant S as source control plane (PeerClient)
//!     participant D as destination control plane (serve)
//!     S->>D: TCP connect, TLS handshake (both certificates checked)
//!     S->>D: {"type":"prepare_receive",...}\n
//!     D->>D: handler.handle("host-a", request)
//!     D->>S: {"type":"prepared","data_address":"10.0.0.2:7000"}\n
//!     D->>S: close_notify
//! ```
//!
//! Modules: [`protocol`] (messages, line framing, bounds), [`tls`]
//! ([`TlsIdentity`]: loading PEM files, building rustls configurations),
//! `cert_names` (the id in a certificate), [`server`] ([`serve`],
//! [`PeerHandler`]), [`client`] ([`PeerClient`]), [`error`] ([`PeerError`]).
//!
//! Call order: [`TlsIdentity::load`] once; [`serve`] with
//! [`TlsIdentity::server_config`] on the control listener;
//! [`PeerClient::new`] with [`TlsIdentity::client_config`] for outgoing
//! requests.

mod cert_names;
pub mod client;
pub mod error;
pub mod protocol;
pub mod server;
pub mod tls;

pub use client::PeerClient;
pub use error::PeerError;
pub use protocol::{PeerRequest, PeerResponse};
pub use server::{serve, PeerHandler};
pub use tls::TlsIdentity;
