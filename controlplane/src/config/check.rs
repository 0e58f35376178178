//! Value checks shared by the sections' `validate` methods. Each takes the
//! dotted field name and returns the `ConfigError` that names it.

use super::error::ConfigError;
use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::Path;

/// Longest id (node, peer) in characters.
pub const ID_LEN_MAX: usize = 64;
/// Longest host name accepted (RFC 1035 limit on a name in text form).
pub const HOST_NAME_LEN_MAX: usize = 253;
/// Longest label of a host name.
const HOST_LABEL_LEN_MAX: usize = 63;

/// Whether `id` is a valid node or peer id: 1..=`ID_LEN_MAX` characters of
/// `[A-Za-z0-9._-]`, and not `.` or `..` (ids may end up in file names).
pub fn is_valid_id(id: &str) -> bool {
    (1..=ID_LEN_MAX).contains(&id.len())
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `value` must lie in `range` (inclusive).
pub(crate) fn in_range<T: PartialOrd + Display>(
    field: &str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<(), ConfigError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::out_of_range(
            field,
            &value,
            format!("{}..={}", range.start(), range.end()),
        ))
    }
}

/// `value` must be a finite number (TOML allows `nan` and `inf`).
pub(crate) fn finite(field: &str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            value,
            "must be a finite number",
        ))
    }
}

/// `value` must be greater than `floor`; `allowed` describes the floor.
pub(crate) fn above(field: &str, value: f64, floor: f64, allowed: &str) -> Result<(), ConfigError> {
    if value > floor {
        Ok(())
    } else {
        Err(ConfigError::out_of_range(field, value, allowed))
    }
}

/// `id` must satisfy [`is_valid_id`].
pub(crate) fn id(field: &str, id: &str) -> Result<(), ConfigError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("{id:?}"),
            format!("must be 1..={ID_LEN_MAX} characters of [A-Za-z0-9._-], not \".\" or \"..\""),
        ))
    }
}

/// `path` must be absolute: a daemon's working directory is no anchor.
pub(crate) fn absolute_path(field: &str, path: &Path) -> Result<(), ConfigError> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("{path:?}"),
            "must be an absolute path",
        ))
    }
}

/// `path` must be absolute and name a file (not `/`).
pub(crate) fn absolute_file_path(field: &str, path: &Path) -> Result<(), ConfigError> {
    absolute_path(field, path)?;
    if path.file_name().is_some() {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("{path:?}"),
            "must name a file",
        ))
    }
}

/// `host` must be an address another host can dial: an IP address other
/// than the unspecified one, or a host name (labels of `[A-Za-z0-9-]`, not
/// starting or ending with `-`). No port.
pub(crate) fn dialable_host(field: &str, host: &str) -> Result<(), ConfigError> {
    let reason = match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() => Some("an unspecified address cannot be dialled"),
        Ok(_) => None,
        Err(_) if is_host_name(host) => None,
        Err(_) => Some("must be an IP address or a host name, without a port"),
    };
    match reason {
        Some(reason) => Err(ConfigError::invalid(field, format!("{host:?}"), reason)),
        None => Ok(()),
    }
}

/// `address` must be `host:port` with a dialable host (see
/// [`dialable_host`]; IPv6 in brackets) and a port other than 0.
pub(crate) fn dialable_host_port(field: &str, address: &str) -> Result<(), ConfigError> {
    let invalid = |reason: &str| ConfigError::invalid(field, format!("{address:?}"), reason);
    let (host, port) = match address.parse::<SocketAddr>() {
        Ok(socket) if socket.ip().is_unspecified() => {
            return Err(invalid("an unspecified address cannot be dialled"));
        }
        Ok(socket) => (None, socket.port()),
        Err(_) => {
            let (host, port) = address
                .rsplit_once(':')
                .ok_or_else(|| invalid("must be host:port"))?;
            let port = port
                .parse::<u16>()
                .map_err(|_| invalid("the port must be 1..=65535"))?;
            (Some(host), port)
        }
    };
    if port == 0 {
        return Err(invalid("the port must be 1..=65535"));
    }
    match host {
        Some(host) if !is_host_name(host) => {
            Err(invalid("the host must be an IP address or a host name"))
        }
        _ => Ok(()),
    }
}

/// RFC 1123 host name syntax.
fn is_host_name(host: &str) -> bool {
    (1..=HOST_NAME_LEN_MAX).contains(&host.len())
        && host.split('.').all(|label| {
            (1..=HOST_LABEL_LEN_MAX).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
