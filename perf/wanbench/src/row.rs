//! One measured (or failed, or skipped) transfer: a row of the table.

use crate::dwcp::{DwcpSettings, Summary};
use crate::guest::GuestKind;
use crate::linkem::Traffic;
use crate::peers::Contender;
use serde::Serialize;

/// Whether the row holds a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Measured and verified.
    Ok,
    /// Failed, timed out, or the copy differs: no time.
    Error,
    /// Not run (data absent, or not asked for).
    Skipped,
}

/// DWCP's own figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DwcpDetails {
    /// What it was told.
    pub settings: DwcpSettings,
    /// The source's summary.
    pub source: Option<Summary>,
    /// The destination's summary.
    pub destination: Option<Summary>,
}

/// A row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Which guest.
    pub guest: GuestKind,
    /// Which contender.
    pub contender: Contender,
    /// DWCP's stream policy (`bdp`, `control-plane`, `N`); none for the peers.
    pub variant: Option<String>,
    /// Measured, failed or skipped.
    pub status: Status,
    /// Sender start to both sides done, s (only when verified).
    pub time_s: Option<f64>,
    /// Size of the image moved.
    pub image_bytes: u64,
    /// IP bytes the sender put on the link (A to B, emulator counter).
    pub wire_bytes: Option<u64>,
    /// IP bytes B to A (acknowledgements, replies).
    pub wire_bytes_b2a: Option<u64>,
    /// `image_bytes * 8 / time_s / link_rate_bps`.
    pub goodput_fraction: Option<f64>,
    /// The copy equals the source image byte for byte (and DWCP verified).
    pub verified: bool,
    /// DWCP's downtime (guest paused to destination verified), ms.
    pub downtime_ms: Option<u64>,
    /// DWCP's settings and summaries.
    pub dwcp: Option<DwcpDetails>,
    /// Emulator counters of the transfer.
    pub traffic: Option<Traffic>,
    /// Settings in words, for the table.
    pub settings: String,
    /// Why it failed or was skipped, or extra facts.
    pub note: String,
}

impl Row {
    /// A row with nothing measured.
    pub fn empty(
        guest: GuestKind,
        contender: Contender,
        image_bytes: u64,
        status: Status,
        note: String,
    ) -> Self {
        Self {
            guest,
            contender,
            variant: None,
            status,
            time_s: None,
            image_bytes,
            wire_bytes: None,
            wire_bytes_b2a: None,
            goodput_fraction: None,
            verified: false,
            downtime_ms: None,
            dwcp: None,
            traffic: None,
            settings: contender.settings().into(),
            note,
        }
    }

    /// A failed row.
    pub fn error(guest: GuestKind, contender: Contender, image_bytes: u64, why: String) -> Self {
        Self::empty(guest, contender, image_bytes, Status::Error, why)
    }

    /// Fills in a verified measurement.
    pub fn measured(mut self, time_s: f64, link_rate_bps: u64) -> Self {
        self.status = Status::Ok;
        self.verified = true;
        self.time_s = Some(time_s);
        self.goodput_fraction = Some(goodput_fraction(self.image_bytes, time_s, link_rate_bps));
        self
    }

    /// Sets the emulator's counters.
    pub fn with_traffic(mut self, traffic: Option<Traffic>) -> Self {
        if let Some(t) = traffic {
            self.wire_bytes = Some(t.a2b.bytes_in);
            self.wire_bytes_b2a = Some(t.b2a.bytes_in);
        }
        self.traffic = traffic;
        self
    }

    /// Sets DWCP's stream policy.
    pub fn with_variant(mut self, variant: Option<String>) -> Self {
        self.variant = variant;
        self
    }

    /// `guest/contender`, with `@variant` for DWCP.
    pub fn key(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}@{v}", self.guest.name(), self.contender.name()),
            None => format!("{}/{}", self.guest.name(), self.contender.name()),
        }
    }
}

/// Image bits over time, as a fraction of the link rate.
pub fn goodput_fraction(image_bytes: u64, time_s: f64, link_rate_bps: u64) -> f64 {
    if time_s <= 0.0 || link_rate_bps == 0 {
        return 0.0;
    }
    image_bytes as f64 * 8.0 / time_s / link_rate_bps as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goodput_is_image_bits_over_time_over_rate() {
        // 25 MB in 1 s on 200 Mbit/s = the full rate.
        assert!((goodput_fraction(25_000_000, 1.0, 200_000_000) - 1.0).abs() < 1e-12);
        assert!((goodput_fraction(25_000_000, 2.0, 200_000_000) - 0.5).abs() < 1e-12);
        assert_eq!(goodput_fraction(1, 0.0, 1), 0.0);
        assert_eq!(goodput_fraction(1, 1.0, 0), 0.0);
    }

    #[test]
    fn measured_rows_are_verified_and_have_goodput() {
        let row = Row::empty(
            GuestKind::Realistic,
            Contender::Tcp,
            1 << 30,
            Status::Error,
            String::new(),
        )
        .measured(10.0, 1_000_000_000);
        assert_eq!(row.status, Status::Ok);
        assert!(row.verified);
        let g = row.goodput_fraction.expect("goodput");
        assert!((g - 0.858_993_459_2).abs() < 1e-9, "{g}");
        assert_eq!(row.key(), "realistic/tcp");
        let dwcp = Row::empty(
            GuestKind::Realistic,
            Contender::Dwcp,
            1,
            Status::Skipped,
            "".into(),
        )
        .with_variant(Some("bdp".into()));
        assert_eq!(dwcp.key(), "realistic/dwcp@bdp");
    }
}
