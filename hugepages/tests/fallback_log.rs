//! The Prefer fallback is logged once per process, at info level, with advice.
//! Its own test binary, so no other test has already used up the "once".

use std::io::Write;
use std::sync::{Arc, Mutex};

use dwcp_hugepages::{free_2m_hugepages, HugepagePolicy, PageBacking, Region};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("log buffer lock")
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn prefer_fallback_logs_once_with_advice() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let free_before = free_2m_hugepages();
    let backings: Vec<PageBacking> = tracing::subscriber::with_default(subscriber, || {
        (0..3)
            .map(|_| {
                Region::new(4 << 20, HugepagePolicy::Prefer)
                    .expect("Prefer falls back")
                    .backing()
            })
            .collect()
    });
    let log = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8 log");
    let info_lines = log
        .lines()
        .filter(|l| l.contains("falling back to normal pages"))
        .count();
    assert!(info_lines <= 1, "fallback logged more than once:\n{log}");
    if free_before == Some(0) {
        assert!(backings.iter().all(|&b| b == PageBacking::Normal));
        assert_eq!(info_lines, 1, "fallback not logged:\n{log}");
        assert!(log.contains("INFO"), "{log}");
        assert!(log.contains("scripts/setup-hugepages.sh"), "{log}");
    }
    eprintln!("{log}");
}
