//! Client and server handshake state machines (sans-IO).
//!
//! # Design
//! ```text
//!  source (client)                          destination (server)
//!  ClientHello{versions, session, stream, size, nonce_c} ─►
//!                           ◄─ ServerHello{version, nonce_s, resume_after_seq, proof_s}
//!  ClientProof{proof_c} ─►
//! ```
//! `proof_s = HMAC(psk, "server" ‖ ClientHello ‖ ServerHello without proof)`
//! and `proof_c = HMAC(psk, "client" ‖ the same ‖ proof_s)`. The server
//! proves first, so a client with the wrong key learns it from a failed
//! check and says so with a `Reject{AuthFailed}` before closing; the server
//! learns it from that reject (or a bad `proof_c`). Either side may answer a
//! message with `Reject{code, reason}`, which the other turns into
//! [`HandshakeError::Rejected`].
//!
//! In explicit plaintext mode both sides set the insecure flag and no key is
//! used (proofs are zero); a flag mismatch is rejected as `ModeMismatch`.
//!
//! The server's session checks (size, session id, where a rejoining stream
//! resumes) belong to its owner, so they come in as a [`SessionCheck`].

// The handshake is a cold path run once per connection: large error values
// (they carry the reject to send) cost nothing that matters.
#![allow(clippy::result_large_err)]

use crate::keys::{PreSharedKey, ProofRole, PROOF_LEN};
use dwcp_shared::handshake::{
    ClientHello, ClientProof, HandshakeMessage, Reject, RejectCode, ServerHello,
    HANDSHAKE_FLAG_INSECURE_PLAINTEXT,
};
use dwcp_shared::limits::{
    CAPABILITIES_REQUIRED, CAPABILITIES_V1, PAGE_SIZE, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN,
    STREAMS_MAX,
};
use thiserror::Error;

/// Why a handshake failed.
#[derive(Debug, Error)]
pub enum HandshakeError {
    /// The peer refused us and said why.
    #[error("peer rejected the handshake ({code:?}): {reason}")]
    Rejected {
        /// The peer's code.
        code: RejectCode,
        /// The peer's words.
        reason: String,
    },
    /// We refused the peer; the reject was (or should be) sent to it.
    #[error("refused the peer ({code:?}): {reason}")]
    Refused {
        /// Our code.
        code: RejectCode,
        /// Our words.
        reason: String,
    },
    /// A message arrived out of order.
    #[error("expected {expected} during the handshake, got {got}")]
    Unexpected {
        /// What the state machine waited for.
        expected: &'static str,
        /// What came.
        got: &'static str,
    },
    /// The server's key proof did not verify.
    #[error(
        "the destination's key proof does not match: the two hosts hold different pre-shared keys"
    )]
    ServerProofInvalid,
    /// The server did not grant a capability this build requires.
    #[error("the destination did not grant capability bits {missing:#x} that this build requires (an older build that does not wait for the source's hand-over commit): upgrade it")]
    MissingCapability {
        /// The required bits it left out.
        missing: u32,
    },
    /// The server picked a version or flag we did not offer.
    #[error("the destination answered with version {version} and flags {flags:#x}, which we did not offer")]
    BadServerChoice {
        /// Its version.
        version: u16,
        /// Its flags.
        flags: u32,
    },
}

/// Short name of a handshake message, for errors.
pub fn message_name(message: &HandshakeMessage) -> &'static str {
    match message {
        HandshakeMessage::ClientHello(_) => "ClientHello",
        HandshakeMessage::ServerHello(_) => "ServerHello",
        HandshakeMessage::ClientProof(_) => "ClientProof",
        HandshakeMessage::Reject(_) => "Reject",
    }
}

fn reject(code: RejectCode, reason: impl Into<String>) -> (HandshakeError, HandshakeMessage) {
    let reason = reason.into();
    (
        HandshakeError::Refused {
            code,
            reason: reason.clone(),
        },
        HandshakeMessage::Reject(Reject { code, reason }),
    )
}

fn peer_rejected(message: HandshakeMessage, expected: &'static str) -> HandshakeError {
    match message {
        HandshakeMessage::Reject(r) => HandshakeError::Rejected {
            code: r.code,
            reason: r.reason,
        },
        other => HandshakeError::Unexpected {
            expected,
            got: message_name(&other),
        },
    }
}

/// What the client asks for.
#[derive(Debug, Clone)]
pub struct ClientParams {
    /// Identifies the migration; the same on every stream.
    pub session_id: [u8; 16],
    /// This connection's stream.
    pub stream_id: u16,
    /// Streams in the migration.
    pub stream_count: u16,
    /// Guest memory size in bytes.
    pub memory_bytes: u64,
    /// Fresh random nonce for this connection.
    pub client_nonce: [u8; 32],
    /// Explicit plaintext mode.
    pub insecure_plaintext: bool,
}

/// The result of a completed client handshake.
#[derive(Debug, Clone, Copy)]
pub struct ClientEstablished {
    /// Negotiated protocol version.
    pub version: u16,
    /// Frames of this stream the destination already holds; resend after it.
    pub resume_after_seq: u64,
    /// This connection's client nonce.
    pub client_nonce: [u8; 32],
    /// This connection's server nonce.
    pub server_nonce: [u8; 32],
    /// Capabilities the server granted (a subset of [`CAPABILITIES_V1`]).
    pub capabilities: u32,
}

/// Client side: [`ClientHandshake::new`] returns the ClientHello to send; feed the reply to [`ClientHandshake::handle_server_hello`].
#[derive(Debug)]
pub struct ClientHandshake {
    params: ClientParams,
    hello_bytes: Vec<u8>,
}

impl ClientHandshake {
    /// Starts a handshake; returns the machine and the ClientHello to send.
    pub fn new(params: ClientParams) -> (Self, HandshakeMessage) {
        assert!(
            params.stream_id < params.stream_count,
            "stream id must be below the stream count"
        );
        assert!(
            params.stream_count <= STREAMS_MAX,
            "stream count bounded by STREAMS_MAX"
        );
        let flags = if params.insecure_plaintext {
            HANDSHAKE_FLAG_INSECURE_PLAINTEXT
        } else {
            0
        };
        let hello = HandshakeMessage::ClientHello(ClientHello {
            version_min: PROTOCOL_VERSION_MIN,
            version_max: PROTOCOL_VERSION_MAX,
            capabilities: CAPABILITIES_V1,
            flags,
            session_id: params.session_id,
            stream_id: params.stream_id,
            stream_count: params.stream_count,
            memory_bytes: params.memory_bytes,
            page_size: PAGE_SIZE,
            client_nonce: params.client_nonce,
        });
        let hello_bytes = hello.encode();
        (
            Self {
                params,
                hello_bytes,
            },
            hello,
        )
    }

    /// Checks the server's answer. On success returns the outcome and the
    /// ClientProof to send; on a bad server proof returns the Reject to send.
    pub fn handle_server_hello(
        self,
        message: HandshakeMessage,
        psk: Option<&PreSharedKey>,
    ) -> Result<(ClientEstablished, HandshakeMessage), (HandshakeError, Option<HandshakeMessage>)>
    {
        let server = match message {
            HandshakeMessage::ServerHello(s) => s,
            other => return Err((peer_rejected(other, "ServerHello"), None)),
        };
        let wanted_flags = if self.params.insecure_plaintext {
            HANDSHAKE_FLAG_INSECURE_PLAINTEXT
        } else {
            0
        };
        if !(PROTOCOL_VERSION_MIN..=PROTOCOL_VERSION_MAX).contains(&server.version)
            || server.flags != wanted_flags
            || server.capabilities & !CAPABILITIES_V1 != 0
        {
            return Err((
                HandshakeError::BadServerChoice {
                    version: server.version,
                    flags: server.flags,
                },
                None,
            ));
        }
        let missing = CAPABILITIES_REQUIRED & !server.capabilities;
        if missing != 0 {
            return Err((HandshakeError::MissingCapability { missing }, None));
        }
        let unproven = server.encode_without_proof();
        let client_proof = match psk {
            None => [0u8; PROOF_LEN],
            Some(psk) => {
                let transcript: [&[u8]; 2] = [&self.hello_bytes, &unproven];
                if !psk.verify_proof(ProofRole::Server, &transcript, &server.server_proof) {
                    let (_, msg) = reject(RejectCode::AuthFailed, "your key proof does not match ours: the hosts hold different pre-shared keys");
                    return Err((HandshakeError::ServerProofInvalid, Some(msg)));
                }
                psk.proof(
                    ProofRole::Client,
                    &[&self.hello_bytes, &unproven, &server.server_proof],
                )
            }
        };
        let established = ClientEstablished {
            version: server.version,
            resume_after_seq: server.resume_after_seq,
            client_nonce: self.params.client_nonce,
            server_nonce: server.server_nonce,
            capabilities: server.capabilities,
        };
        Ok((
            established,
            HandshakeMessage::ClientProof(ClientProof { client_proof }),
        ))
    }
}

/// The server owner's answer to a valid-looking ClientHello.
pub trait SessionCheck {
    /// Returns where this stream resumes (0 = from the start), or a reject.
    fn admit(&mut self, hello: &ClientHello) -> Result<u64, (RejectCode, String)>;
}

/// Server side, after the ClientHello: waiting for the ClientProof.
#[derive(Debug)]
pub struct ServerAwaitingProof {
    hello: ClientHello,
    hello_bytes: Vec<u8>,
    server_hello_unproven: Vec<u8>,
    server_proof: [u8; PROOF_LEN],
    version: u16,
    server_nonce: [u8; 32],
}

/// The result of a completed server handshake.
#[derive(Debug, Clone)]
pub struct ServerEstablished {
    /// The client's hello (session, stream, size, nonce).
    pub hello: ClientHello,
    /// Negotiated version.
    pub version: u16,
    /// This connection's server nonce.
    pub server_nonce: [u8; 32],
}

/// Handles a ClientHello. On success returns the waiting state and the
/// ServerHello to send; on failure the error and the Reject to send.
pub fn server_handle_client_hello(
    message: HandshakeMessage,
    insecure_plaintext: bool,
    psk: Option<&PreSharedKey>,
    server_nonce: [u8; 32],
    session: &mut impl SessionCheck,
) -> Result<(ServerAwaitingProof, HandshakeMessage), (HandshakeError, Option<HandshakeMessage>)> {
    let hello = match message {
        HandshakeMessage::ClientHello(h) => h,
        other => return Err((peer_rejected(other, "ClientHello"), None)),
    };
    let refuse = |code, reason: String| {
        let (err, msg) = reject(code, reason);
        Err((err, Some(msg)))
    };
    let version = hello.version_max.min(PROTOCOL_VERSION_MAX);
    if hello.version_min > hello.version_max
        || version < hello.version_min
        || version < PROTOCOL_VERSION_MIN
    {
        return refuse(
            RejectCode::VersionUnsupported,
            format!(
                "source speaks versions {}..={}, destination {}..={}",
                hello.version_min, hello.version_max, PROTOCOL_VERSION_MIN, PROTOCOL_VERSION_MAX
            ),
        );
    }
    let client_insecure = hello.flags & HANDSHAKE_FLAG_INSECURE_PLAINTEXT != 0;
    if client_insecure != insecure_plaintext {
        let mode = |insecure: bool| {
            if insecure {
                "--insecure-plaintext"
            } else {
                "encrypted"
            }
        };
        return refuse(
            RejectCode::ModeMismatch,
            format!(
                "source is {} but destination is {}: both sides must agree",
                mode(client_insecure),
                mode(insecure_plaintext)
            ),
        );
    }
    if hello.page_size != PAGE_SIZE {
        return refuse(
            RejectCode::PageSizeUnsupported,
            format!(
                "page size {} is not supported (only {PAGE_SIZE})",
                hello.page_size
            ),
        );
    }
    if hello.stream_count == 0
        || hello.stream_count > STREAMS_MAX
        || hello.stream_id >= hello.stream_count
    {
        return refuse(
            RejectCode::BadRequest,
            format!(
                "stream {} of {} is out of range (at most {STREAMS_MAX} streams)",
                hello.stream_id, hello.stream_count
            ),
        );
    }
    let missing = CAPABILITIES_REQUIRED & !hello.capabilities;
    if missing != 0 {
        return refuse(
            RejectCode::BadRequest,
            format!(
                "the source does not offer capability bits {missing:#x} that this build requires (an older build that does not commit the hand-over): upgrade it"
            ),
        );
    }
    let resume_after_seq = match session.admit(&hello) {
        Ok(seq) => seq,
        Err((code, reason)) => return refuse(code, reason),
    };
    let flags = if insecure_plaintext {
        HANDSHAKE_FLAG_INSECURE_PLAINTEXT
    } else {
        0
    };
    let mut server = ServerHello {
        version,
        capabilities: hello.capabilities & CAPABILITIES_V1,
        flags,
        server_nonce,
        resume_after_seq,
        server_proof: [0u8; PROOF_LEN],
    };
    let hello_bytes = HandshakeMessage::ClientHello(hello).encode();
    let server_hello_unproven = server.encode_without_proof();
    if let Some(psk) = psk {
        server.server_proof = psk.proof(ProofRole::Server, &[&hello_bytes, &server_hello_unproven]);
    }
    let server_proof = server.server_proof;
    let waiting = ServerAwaitingProof {
        hello,
        hello_bytes,
        server_hello_unproven,
        server_proof,
        version,
        server_nonce,
    };
    Ok((waiting, HandshakeMessage::ServerHello(server)))
}

impl ServerAwaitingProof {
    /// The hello this handshake answered.
    pub fn hello(&self) -> &ClientHello {
        &self.hello
    }

    /// The server nonce sent in the ServerHello (with the hello's client
    /// nonce, what the session's keys derive from; the client is not yet
    /// proven to hold the key).
    pub fn server_nonce(&self) -> &[u8; 32] {
        &self.server_nonce
    }

    /// Checks the client's proof.
    pub fn handle_client_proof(
        self,
        message: HandshakeMessage,
        psk: Option<&PreSharedKey>,
    ) -> Result<ServerEstablished, (HandshakeError, Option<HandshakeMessage>)> {
        let proof = match message {
            HandshakeMessage::ClientProof(p) => p,
            other => return Err((peer_rejected(other, "ClientProof"), None)),
        };
        if let Some(psk) = psk {
            let transcript: [&[u8]; 3] = [
                &self.hello_bytes,
                &self.server_hello_unproven,
                &self.server_proof,
            ];
            if !psk.verify_proof(ProofRole::Client, &transcript, &proof.client_proof) {
                let (err, msg) = reject(RejectCode::AuthFailed, "the source's key proof does not match: the hosts hold different pre-shared keys");
                return Err((err, Some(msg)));
            }
        }
        Ok(ServerEstablished {
            hello: self.hello,
            version: self.version,
            server_nonce: self.server_nonce,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dwcp_shared::limits::CAP_HANDOVER_COMMIT;

    struct Admit(Result<u64, (RejectCode, String)>);
    impl SessionCheck for Admit {
        fn admit(&mut self, _hello: &ClientHello) -> Result<u64, (RejectCode, String)> {
            self.0.clone()
        }
    }

    fn psk(byte: u8) -> PreSharedKey {
        PreSharedKey::from_file_bytes(&[byte; 32]).expect("valid key")
    }

    fn params(insecure: bool) -> ClientParams {
        ClientParams {
            session_id: [4; 16],
            stream_id: 1,
            stream_count: 4,
            memory_bytes: 1 << 30,
            client_nonce: [6; 32],
            insecure_plaintext: insecure,
        }
    }

    /// Runs a whole handshake through encode/decode, as the wire would.
    fn run(
        client_key: Option<&PreSharedKey>,
        server_key: Option<&PreSharedKey>,
        client_insecure: bool,
        server_insecure: bool,
        admit: Result<u64, (RejectCode, String)>,
    ) -> (
        Result<ClientEstablished, HandshakeError>,
        Result<ServerEstablished, HandshakeError>,
    ) {
        let wire = |m: HandshakeMessage| {
            HandshakeMessage::decode(&m.encode()).expect("own messages decode")
        };
        let (client, hello) = ClientHandshake::new(params(client_insecure));
        let (waiting, server_hello) = match server_handle_client_hello(
            wire(hello),
            server_insecure,
            server_key,
            [7; 32],
            &mut Admit(admit),
        ) {
            Ok(ok) => ok,
            Err((err, Some(reject))) => {
                let client_err = client
                    .handle_server_hello(wire(reject), client_key)
                    .err()
                    .map(|e| e.0);
                return (
                    Err(client_err.expect("a reject fails the client")),
                    Err(err),
                );
            }
            Err((err, None)) => panic!("server failed without a reject: {err}"),
        };
        match client.handle_server_hello(wire(server_hello), client_key) {
            Ok((established, proof)) => {
                let server = waiting
                    .handle_client_proof(wire(proof), server_key)
                    .map_err(|e| e.0);
                (Ok(established), server)
            }
            Err((err, reject)) => {
                let reject = reject.expect("a failing client sends a reject");
                let server = waiting
                    .handle_client_proof(wire(reject), server_key)
                    .map_err(|e| e.0);
                (Err(err), server)
            }
        }
    }

    #[test]
    fn same_key_succeeds_and_carries_resume_point() {
        let (c, s) = run(Some(&psk(1)), Some(&psk(1)), false, false, Ok(42));
        let c = c.expect("client ok");
        assert_eq!(c.resume_after_seq, 42);
        assert_eq!(c.server_nonce, [7; 32]);
        let s = s.expect("server ok");
        assert_eq!(s.hello.stream_id, 1);
    }

    #[test]
    fn wrong_key_fails_on_both_sides_with_clear_causes() {
        let (c, s) = run(Some(&psk(1)), Some(&psk(2)), false, false, Ok(0));
        assert!(matches!(c, Err(HandshakeError::ServerProofInvalid)));
        assert!(matches!(
            s,
            Err(HandshakeError::Rejected {
                code: RejectCode::AuthFailed,
                ..
            })
        ));
    }

    #[test]
    fn plaintext_needs_both_sides() {
        let (c, s) = run(None, None, true, true, Ok(0));
        assert!(c.is_ok() && s.is_ok());
        let (c, s) = run(Some(&psk(1)), Some(&psk(1)), true, false, Ok(0));
        assert!(matches!(
            c,
            Err(HandshakeError::Rejected {
                code: RejectCode::ModeMismatch,
                ..
            })
        ));
        assert!(matches!(
            s,
            Err(HandshakeError::Refused {
                code: RejectCode::ModeMismatch,
                ..
            })
        ));
    }

    #[test]
    fn session_check_rejection_reaches_the_client() {
        let (c, _) = run(
            Some(&psk(1)),
            Some(&psk(1)),
            false,
            false,
            Err((RejectCode::SizeMismatch, "sizes differ".into())),
        );
        match c {
            Err(HandshakeError::Rejected {
                code: RejectCode::SizeMismatch,
                reason,
            }) => assert_eq!(reason, "sizes differ"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_source_that_does_not_commit_hand_overs_is_refused() {
        let (_, hello) = ClientHandshake::new(params(true));
        let HandshakeMessage::ClientHello(mut hello) = hello else {
            panic!("a client starts with its hello");
        };
        hello.capabilities &= !CAP_HANDOVER_COMMIT;
        let refused = server_handle_client_hello(
            HandshakeMessage::ClientHello(hello),
            true,
            None,
            [7; 32],
            &mut Admit(Ok(0)),
        );
        match refused {
            Err((
                HandshakeError::Refused {
                    code: RejectCode::BadRequest,
                    reason,
                },
                Some(HandshakeMessage::Reject(_)),
            )) => assert!(reason.contains("commit"), "{reason}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_destination_that_does_not_grant_the_commit_is_refused() {
        let (client, hello) = ClientHandshake::new(params(true));
        let (_, server_hello) =
            server_handle_client_hello(hello, true, None, [7; 32], &mut Admit(Ok(0)))
                .map_err(|e| e.0)
                .expect("server accepts");
        let HandshakeMessage::ServerHello(mut server_hello) = server_hello else {
            panic!("the server answers with its hello");
        };
        assert_ne!(server_hello.capabilities & CAP_HANDOVER_COMMIT, 0);
        server_hello.capabilities &= !CAP_HANDOVER_COMMIT;
        let failed = client
            .handle_server_hello(HandshakeMessage::ServerHello(server_hello), None)
            .map(|_| ());
        assert!(
            matches!(
                failed,
                Err((HandshakeError::MissingCapability { missing }, None)) if missing == CAP_HANDOVER_COMMIT
            ),
            "{failed:?}"
        );
    }
}
