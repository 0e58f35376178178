//! The one-line JSON summary both roles print last on stdout.

use serde_json::Value;

/// A parsed summary line.
#[derive(Debug, Clone)]
pub struct Summary(pub Value);

impl Summary {
    /// Parses the last non-empty line of `stdout`.
    pub fn from_stdout(stdout: &str) -> Result<Summary, String> {
        let line = stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .ok_or("stdout is empty")?;
        let value: Value = serde_json::from_str(line).map_err(|e| format!("{e} in {line:?}"))?;
        if !value.is_object() {
            return Err(format!("not a JSON object: {line:?}"));
        }
        Ok(Summary(value))
    }

    fn field(&self, key: &str) -> &Value {
        self.0
            .get(key)
            .unwrap_or_else(|| panic!("summary has no {key:?}: {}", self.0))
    }

    /// `verified`.
    pub fn verified(&self) -> bool {
        self.field("verified")
            .as_bool()
            .unwrap_or_else(|| panic!("verified is not a bool: {}", self.0))
    }

    /// An unsigned integer field.
    pub fn u64(&self, key: &str) -> u64 {
        self.field(key)
            .as_u64()
            .unwrap_or_else(|| panic!("{key} is not an unsigned integer: {}", self.0))
    }

    /// A string field, None when null.
    pub fn str(&self, key: &str) -> Option<&str> {
        let v = self.field(key);
        if v.is_null() {
            None
        } else {
            Some(
                v.as_str()
                    .unwrap_or_else(|| panic!("{key} is not a string: {}", self.0)),
            )
        }
    }

    /// `error`, None when null.
    pub fn error(&self) -> Option<&str> {
        self.str("error")
    }

    /// `error` lower-cased, "" when null.
    pub fn error_lower(&self) -> String {
        self.error().unwrap_or_default().to_lowercase()
    }

    /// `digest`, None when null.
    pub fn digest(&self) -> Option<&str> {
        self.str("digest")
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}
