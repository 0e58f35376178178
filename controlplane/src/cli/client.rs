//! `ApiClient`: a small blocking client of the control plane's HTTP API.
//!
//! Design: one `ureq::Agent` (plain HTTP/1.1, keep-alive, no TLS: the API
//! listens on loopback or a management network) with a connect and a
//! per-request time-out. Every method is one request; a 2xx body is decoded
//! into the type from `api_types`, a 4xx/5xx body into `ApiError`, and every
//! failure is a typed `ClientError` that names the API address.
//!
//! Proxies from the environment (`http_proxy`, ...) are ignored on purpose:
//! the control plane is never behind a proxy, and a proxy meant for the
//! internet would turn `connection refused` into a confusing 502.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ClientError;
use crate::api_types::{
    ApiError, Health, Migration, MigrationList, NodeStatus, StartMigration, UpdateMigration,
};

/// The API address when neither `--api` nor `DWCP_API` gives one.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:7700";
/// The environment variable that overrides `DEFAULT_API_URL`.
pub const API_URL_ENV: &str = "DWCP_API";
/// Longest migration id accepted as a path segment (the API's are 16).
pub const MIGRATION_ID_LEN_MAX: usize = 64;
/// Time allowed to open the TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time allowed for one whole request, answer body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest part of a non-JSON error body quoted in a `ClientError`.
const BODY_QUOTE_CHARS_MAX: usize = 200;

const _: () = assert!(CONNECT_TIMEOUT.as_millis() < REQUEST_TIMEOUT.as_millis());

/// The API address to use: `--api` when given, else a non-empty `DWCP_API`,
/// else `DEFAULT_API_URL`.
pub fn resolve_api_url(flag: Option<&str>, env: Option<&str>) -> String {
    flag.or(env.filter(|value| !value.trim().is_empty()))
        .unwrap_or(DEFAULT_API_URL)
        .trim()
        .to_string()
}

/// Normalises an API address: `host:port` gets `http://`, a trailing `/` is
/// dropped; `https://` and other schemes are refused (no TLS in this build).
pub fn normalize_api_url(url: &str) -> Result<String, ClientError> {
    let bad = |reason| ClientError::BadUrl {
        url: url.to_string(),
        reason,
    };
    let trimmed = url.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    };
    if with_scheme.starts_with("https://") {
        return Err(bad("dwcpctl speaks plain http only (the API has no TLS)"));
    }
    let Some(authority) = with_scheme.strip_prefix("http://") else {
        return Err(bad("expected http://HOST:PORT"));
    };
    let authority = authority.trim_end_matches('/');
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    if authority.contains(['/', '?', '#', ' ', '@']) {
        return Err(bad("expected http://HOST:PORT with no path"));
    }
    Ok(format!("http://{authority}"))
}

/// Checks that `id` can be put into a request path as one segment.
pub fn validate_migration_id(id: &str) -> Result<(), ClientError> {
    let well_formed = !id.is_empty()
        && id.len() <= MIGRATION_ID_LEN_MAX
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(ClientError::BadId { id: id.to_string() })
    }
}

/// A blocking client of one control plane's API. Cheap to share by reference;
/// keeps one connection alive between calls.
#[derive(Debug)]
pub struct ApiClient {
    agent: ureq::Agent,
    base_url: String,
}

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Patch,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
        }
    }
}

/// Which answers count as success for a request.
#[derive(Debug, Clone, Copy)]
enum Accept {
    /// Any 2xx.
    Success,
    /// 2xx or 503 (`/health` answers 503 with a `Health` body).
    SuccessOr503,
}

impl ApiClient {
    /// A client for the API at `api_url` (see `normalize_api_url`). Makes no
    /// request.
    pub fn new(api_url: &str) -> Result<Self, ClientError> {
        let base_url = normalize_api_url(api_url)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("dwcpctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self { agent, base_url })
    }

    /// The normalised API base URL, e.g. `http://127.0.0.1:7700`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `POST /v1/migrations`.
    pub fn start_migration(&self, request: &StartMigration) -> Result<Migration, ClientError> {
        self.call(
            Method::Post,
            "/v1/migrations".to_string(),
            Some(request),
            Accept::Success,
        )
    }

    /// `GET /v1/migrations`.
    pub fn list_migrations(&self) -> Result<MigrationList, ClientError> {
        self.call::<(), _>(
            Method::Get,
            "/v1/migrations".to_string(),
            None,
            Accept::Success,
        )
    }

    /// `GET /v1/migrations/{id}`.
    pub fn migration(&self, id: &str) -> Result<Migration, ClientError> {
        validate_migration_id(id)?;
        self.call::<(), _>(
            Method::Get,
            format!("/v1/migrations/{id}"),
            None,
            Accept::Success,
        )
    }

    /// `POST /v1/migrations/{id}/cancel`: asks for a cancel (202); the
    /// migration becomes `cancelled` shortly after.
    pub fn cancel_migration(&self, id: &str) -> Result<Migration, ClientError> {
        validate_migration_id(id)?;
        self.call::<(), _>(
            Method::Post,
            format!("/v1/migrations/{id}/cancel"),
            None,
            Accept::Success,
        )
    }

    /// `PATCH /v1/migrations/{id}`.
    pub fn update_migration(
        &self,
        id: &str,
        update: &UpdateMigration,
    ) -> Result<Migration, ClientError> {
        validate_migration_id(id)?;
        self.call(
            Method::Patch,
            format!("/v1/migrations/{id}"),
            Some(update),
            Accept::Success,
        )
    }

    /// `GET /v1/node`.
    pub fn node(&self) -> Result<NodeStatus, ClientError> {
        self.call::<(), _>(Method::Get, "/v1/node".to_string(), None, Accept::Success)
    }

    /// `GET /health`: the `Health` body of a 200 (healthy) or a 503
    /// (unhealthy) answer.
    pub fn health(&self) -> Result<Health, ClientError> {
        self.call::<(), _>(
            Method::Get,
            "/health".to_string(),
            None,
            Accept::SuccessOr503,
        )
    }

    /// One request: sends `body` as JSON when given, decodes the answer.
    fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<&B>,
        accept: Accept,
    ) -> Result<T, ClientError> {
        let url = format!("{}{}", self.base_url, path);
        let sent = match (method, body) {
            (Method::Get, _) => self.agent.get(&url).call(),
            (Method::Post, Some(body)) => self.agent.post(&url).send_json(body),
            (Method::Post, None) => self.agent.post(&url).send_empty(),
            (Method::Patch, Some(body)) => self.agent.patch(&url).send_json(body),
            (Method::Patch, None) => self.agent.patch(&url).send_empty(),
        };
        let method = method.as_str();
        let mut response = sent.map_err(|error| self.transport_error(error, method, &path))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|error| self.transport_error(error, method, &path))?;
        let accepted = match accept {
            Accept::Success => (200..300).contains(&status),
            Accept::SuccessOr503 => (200..300).contains(&status) || status == 503,
        };
        if !accepted {
            return Err(ClientError::Api {
                method,
                path,
                status,
                message: api_error_message(&text),
            });
        }
        serde_json::from_str(&text).map_err(|error| ClientError::Decode {
            method,
            path,
            reason: error.to_string(),
        })
    }

    /// Maps a `ureq` failure to `Unreachable` or `Timeout`.
    fn transport_error(&self, error: ureq::Error, method: &'static str, path: &str) -> ClientError {
        match error {
            ureq::Error::Timeout(which) => {
                let timeout = match which {
                    ureq::Timeout::Connect => CONNECT_TIMEOUT,
                    _ => REQUEST_TIMEOUT,
                };
                ClientError::Timeout {
                    api: self.base_url.clone(),
                    method,
                    path: path.to_string(),
                    timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                }
            }
            other => ClientError::Unreachable {
                api: self.base_url.clone(),
                reason: transport_reason(&other),
            },
        }
    }
}

/// A short lowercase reason for a transport failure: `connection refused`
/// rather than `io: Connection refused (os error 111)`.
fn transport_reason(error: &ureq::Error) -> String {
    use std::io::ErrorKind;
    match error {
        ureq::Error::Io(io) => match io.kind() {
            kind @ (ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::NotConnected
            | ErrorKind::AddrNotAvailable
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::NetworkDown
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
            | ErrorKind::PermissionDenied) => kind.to_string(),
            _ => io.to_string(),
        },
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        other => other.to_string(),
    }
}

/// The `error` of an `ApiError` body, or the start of a body that is not one.
pub fn api_error_message(body: &str) -> String {
    if let Ok(api_error) = serde_json::from_str::<ApiError>(body) {
        return api_error.error;
    }
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return "(empty body)".to_string();
    }
    let mut quoted: String = trimmed.chars().take(BODY_QUOTE_CHARS_MAX).collect();
    if quoted.len() < trimmed.len() {
        quoted.push_str("...");
    }
    quoted
}
