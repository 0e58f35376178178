//! Messages of the peer link and their line framing.
//!
//! # Design
//!
//! One TLS connection carries exactly one exchange: the client writes one
//! [`PeerRequest`] as a single line of compact JSON ending in `\n`, the server
//! answers with one [`PeerResponse`] line, and both close. A line holds at
//! most [`LINE_BYTES_MAX`] bytes before its `\n`; readers never buffer more
//! than that plus one byte, so a peer cannot make us allocate without bound.
//! JSON strings escape newlines, so an encoded message never contains a raw
//! `\n`.
//!
//! This module is pure apart from `read_line`, which reads from any
//! `AsyncBufRead`; TLS and sockets live in `server.rs` and `client.rs`.
//!
//! # Versioning
//!
//! Both sides offer the ALPN protocol [`ALPN_PROTOCOL`]; a peer that speaks
//! a different major version fails the TLS handshake with
//! `no_application_protocol` instead of misreading messages. Within a
//! version, changes are additive only: a new field comes with
//! `#[serde(default)]` and unknown fields are ignored, so an older peer
//! keeps working; a new message `type` is answered with
//! [`PeerResponse::Error`] by a peer that does not know it.

use dwcp_shared::keys::FRAME_KEY_LEN;
use dwcp_shared::limits::STREAMS_MAX;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// Most bytes of one message line, not counting its terminating `\n`.
pub const LINE_BYTES_MAX: usize = 64 * 1024;

/// The ALPN protocol id both sides offer; its suffix is the link's major version.
pub const ALPN_PROTOCOL: &[u8] = b"dwcp-peer/1";

/// Longest host or VM id, in bytes.
pub const ID_LEN_MAX: usize = 64;

/// Length of `key_hex` in [`PeerRequest::PrepareReceive`]: the data plane's
/// frame key, two hex digits per byte.
pub const KEY_HEX_LEN: usize = 2 * FRAME_KEY_LEN;

const _: () = assert!(
    LINE_BYTES_MAX >= 4096,
    "a PrepareReceive with every field at its longest must fit"
);
const _: () = assert!(KEY_HEX_LEN == 64);
const _: () = assert!(ID_LEN_MAX <= 253, "a host id must also be a valid DNS name");

/// A request from one control plane to another.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerRequest {
    /// Source → destination: prepare to receive a migration.
    PrepareReceive {
        /// The source's id for this migration.
        migration_id: u64,
        /// The VM being migrated (see [`validate_id`]).
        vm_id: String,
        /// Size of the guest memory, bytes (non-zero).
        memory_bytes: u64,
        /// Id of the frame key, echoed in the data plane's handshake.
        key_id: u64,
        /// The data plane's frame key, [`KEY_HEX_LEN`] hex digits. Never logged.
        key_hex: String,
        /// Parallel TCP streams, `0..=STREAMS_MAX` (0: the source derives them).
        streams: u16,
        /// Whether the page codec is on.
        codec: bool,
    },
    /// Source → destination: the source's verdict and summary (the
    /// destination records it).
    Report {
        /// The migration this reports on.
        migration_id: u64,
        /// Whether the source considers the migration completed.
        completed: bool,
        /// The source's JSON summary, as its data plane printed it.
        summary: serde_json::Value,
    },
    /// Either way: stop a migration.
    Cancel {
        /// The migration to stop.
        migration_id: u64,
    },
    /// Liveness and identity check.
    Ping,
}

/// The answer to one [`PeerRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerResponse {
    /// `PrepareReceive` accepted: the data plane listens at `data_address`.
    Prepared {
        /// `host:port` the source's data plane connects to.
        data_address: String,
    },
    /// The request was carried out.
    Ok,
    /// Answer to `Ping`.
    Pong {
        /// The answering host's id.
        node_id: String,
    },
    /// The request was refused or failed.
    Error {
        /// Why, for an operator.
        message: String,
    },
}

impl PeerRequest {
    /// The message's `type` tag, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PrepareReceive { .. } => "prepare_receive",
            Self::Report { .. } => "report",
            Self::Cancel { .. } => "cancel",
            Self::Ping => "ping",
        }
    }

    /// Checks the field bounds that the types alone do not: ids, the key's
    /// length and digits, the stream count, a non-zero memory size.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::PrepareReceive {
                vm_id,
                memory_bytes,
                key_hex,
                streams,
                ..
            } => {
                validate_id(vm_id).map_err(|reason| format!("vm_id: {reason}"))?;
                if *memory_bytes == 0 {
                    return Err("memory_bytes is 0".to_owned());
                }
                if key_hex.len() != KEY_HEX_LEN || !key_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!("key_hex must be {KEY_HEX_LEN} hex digits"));
                }
                if *streams > STREAMS_MAX {
                    return Err(format!("streams is {streams}, not in 0..={STREAMS_MAX}"));
                }
                Ok(())
            }
            Self::Report { .. } | Self::Cancel { .. } | Self::Ping => Ok(()),
        }
    }
}

/// Written by hand so that the frame key never reaches a log.
impl std::fmt::Debug for PeerRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PrepareReceive {
                migration_id,
                vm_id,
                memory_bytes,
                key_id,
                key_hex: _,
                streams,
                codec,
            } => f
                .debug_struct("PrepareReceive")
                .field("migration_id", migration_id)
                .field("vm_id", vm_id)
                .field("memory_bytes", memory_bytes)
                .field("key_id", key_id)
                .field("key_hex", &"<redacted>")
                .field("streams", streams)
                .field("codec", codec)
                .finish(),
            Self::Report {
                migration_id,
                completed,
                summary,
            } => f
                .debug_struct("Report")
                .field("migration_id", migration_id)
                .field("completed", completed)
                .field("summary", summary)
                .finish(),
            Self::Cancel { migration_id } => f
                .debug_struct("Cancel")
                .field("migration_id", migration_id)
                .finish(),
            Self::Ping => f.write_str("Ping"),
        }
    }
}

/// Checks a host or VM id: 1 to [`ID_LEN_MAX`] bytes of `[A-Za-z0-9._-]`.
pub fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > ID_LEN_MAX {
        return Err(format!("length {} is not in 1..={ID_LEN_MAX}", id.len()));
    }
    match id
        .bytes()
        .find(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
    {
        Some(bad) => Err(format!("byte {bad:#04x} is not one of [A-Za-z0-9._-]")),
        None => Ok(()),
    }
}

/// Encodes `message` as one line: compact JSON and a `\n`.
///
/// Fails when the JSON is longer than [`LINE_BYTES_MAX`].
pub fn encode_line<T: Serialize>(message: &T) -> Result<Vec<u8>, String> {
    let mut line = serde_json::to_vec(message).map_err(|e| format!("cannot encode: {e}"))?;
    if line.len() > LINE_BYTES_MAX {
        return Err(format!(
            "message of {} bytes is longer than {LINE_BYTES_MAX}",
            line.len()
        ));
    }
    debug_assert!(!line.contains(&b'\n'), "compact JSON has no raw newline");
    line.push(b'\n');
    Ok(line)
}

/// Decodes one line (without its `\n`) as a message.
pub fn decode_line<T: DeserializeOwned>(line: &[u8]) -> Result<T, String> {
    assert!(line.len() <= LINE_BYTES_MAX, "read_line bounds the line");
    serde_json::from_slice(line).map_err(|e| format!("bad message: {e}"))
}

/// Why [`read_line`] returned no line.
#[derive(Debug)]
pub(crate) enum LineError {
    /// More than [`LINE_BYTES_MAX`] bytes came without a `\n`.
    TooLong,
    /// The stream ended before a `\n`; `received` bytes came first.
    ClosedEarly {
        /// Bytes of the incomplete line.
        received: usize,
    },
    /// The stream failed.
    Io(std::io::Error),
}

impl LineError {
    /// A description for [`PeerError::Protocol`](super::PeerError::Protocol)
    /// and for the server's logs.
    pub(crate) fn reason(&self) -> String {
        match self {
            Self::TooLong => format!("line longer than {LINE_BYTES_MAX} bytes"),
            Self::ClosedEarly { received: 0 } => "connection closed before a message".to_owned(),
            Self::ClosedEarly { received } => {
                format!("connection closed after {received} bytes of an unfinished line")
            }
            Self::Io(e) => format!("read failed: {e}"),
        }
    }
}

/// Reads one line, without its `\n`, buffering at most
/// [`LINE_BYTES_MAX`] + 1 bytes.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
) -> Result<Vec<u8>, LineError> {
    const READ_LIMIT_BYTES: u64 = LINE_BYTES_MAX as u64 + 1;
    let mut line = Vec::new();
    let received = (&mut *reader)
        .take(READ_LIMIT_BYTES)
        .read_until(b'\n', &mut line)
        .await
        .map_err(LineError::Io)?;
    assert!(
        line.len() == received,
        "read_until appends to an empty buffer"
    );
    if line.last() == Some(&b'\n') {
        line.pop();
        assert!(line.len() <= LINE_BYTES_MAX, "take() bounds the read");
        return Ok(line);
    }
    if received as u64 == READ_LIMIT_BYTES {
        return Err(LineError::TooLong);
    }
    Err(LineError::ClosedEarly { received })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepare(key_hex: &str, streams: u16) -> PeerRequest {
        PeerRequest::PrepareReceive {
            migration_id: 7,
            vm_id: "vm-1".to_owned(),
            memory_bytes: 1 << 30,
            key_id: 3,
            key_hex: key_hex.to_owned(),
            streams,
            codec: true,
        }
    }

    #[test]
    fn request_round_trips_with_type_tag() {
        let request = prepare(&"ab".repeat(32), 4);
        let line = encode_line(&request).expect("small message encodes");
        assert_eq!(line.last(), Some(&b'\n'));
        let text = std::str::from_utf8(&line).expect("json is utf-8");
        assert!(text.starts_with(r#"{"type":"prepare_receive","#), "{text}");
        let back: PeerRequest = decode_line(&line[..line.len() - 1]).expect("decodes");
        assert_eq!(back, request);
        let ping: PeerRequest = decode_line(br#"{"type":"ping"}"#).expect("ping decodes");
        assert_eq!(ping, PeerRequest::Ping);
        let pong: PeerResponse =
            decode_line(br#"{"type":"pong","node_id":"host-b"}"#).expect("pong decodes");
        assert_eq!(
            pong,
            PeerResponse::Pong {
                node_id: "host-b".to_owned()
            }
        );
    }

    #[test]
    fn unknown_type_is_an_error() {
        let err =
            decode_line::<PeerRequest>(br#"{"type":"format_disk"}"#).expect_err("unknown type");
        assert!(err.contains("format_disk"), "{err}");
    }

    #[test]
    fn debug_redacts_the_key() {
        let key = "0123456789abcdef".repeat(4);
        let shown = format!("{:?}", prepare(&key, 1));
        assert!(!shown.contains(&key), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn validate_checks_key_streams_and_ids() {
        assert_eq!(prepare(&"0F".repeat(32), 1).validate(), Ok(()));
        assert_eq!(prepare(&"0F".repeat(32), STREAMS_MAX).validate(), Ok(()));
        assert!(
            prepare(&"0F".repeat(31), 1).validate().is_err(),
            "short key"
        );
        assert!(prepare(&"0G".repeat(32), 1).validate().is_err(), "not hex");
        assert_eq!(
            prepare(&"00".repeat(32), 0).validate(),
            Ok(()),
            "0 streams: the source derives them"
        );
        assert!(
            prepare(&"00".repeat(32), STREAMS_MAX + 1)
                .validate()
                .is_err(),
            "too many streams"
        );
        assert_eq!(validate_id("host-a.example_1"), Ok(()));
        assert_eq!(validate_id(&"a".repeat(ID_LEN_MAX)), Ok(()));
        assert!(validate_id("").is_err());
        assert!(validate_id(&"a".repeat(ID_LEN_MAX + 1)).is_err());
        assert!(validate_id("host/a").is_err());
        assert!(validate_id("höst").is_err());
    }

    #[test]
    fn encode_refuses_an_oversized_message() {
        let request = PeerRequest::Report {
            migration_id: 1,
            completed: true,
            summary: serde_json::Value::String("x".repeat(LINE_BYTES_MAX)),
        };
        let err = encode_line(&request).expect_err("too long");
        assert!(err.contains("longer than"), "{err}");
    }

    async fn read_all_lines(input: &[u8]) -> Result<Vec<u8>, LineError> {
        let mut reader = tokio::io::BufReader::new(input);
        read_line(&mut reader).await
    }

    #[tokio::test]
    async fn read_line_bounds_and_reports_early_close() {
        let mut exact = vec![b'x'; LINE_BYTES_MAX];
        exact.push(b'\n');
        assert_eq!(
            read_all_lines(&exact).await.expect("fits").len(),
            LINE_BYTES_MAX
        );

        let mut over = vec![b'x'; LINE_BYTES_MAX + 1];
        over.push(b'\n');
        assert!(matches!(
            read_all_lines(&over).await,
            Err(LineError::TooLong)
        ));

        assert!(matches!(
            read_all_lines(b"{\"type\"").await,
            Err(LineError::ClosedEarly { received: 7 })
        ));
        assert!(matches!(
            read_all_lines(b"").await,
            Err(LineError::ClosedEarly { received: 0 })
        ));
    }
}
