//! The transfer starts on stream 0 while the other streams still join.
//!
//! A stand-in destination (real sockets, the real server handshake) answers
//! the joining streams only once stream 0 has carried a frame. A source that
//! waited for every stream before sending would never get those answers;
//! the gate's time-out then fails the test.

use super::migrate_with;
use crate::config::SourceConfig;
use crate::live::MigrationHandles;
use crate::session::serve_handshake;
use dwcp_dataplane_core::handshake::SessionCheck;
use dwcp_shared::handshake::{ClientHello, RejectCode};
use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long a join waits for stream 0's first frame.
const GATE_TIMEOUT: Duration = Duration::from_secs(10);
const STREAMS: u16 = 3;

/// Admits every stream of the one session.
struct AdmitAll;

impl SessionCheck for AdmitAll {
    fn admit(&mut self, _hello: &ClientHello) -> Result<u64, (RejectCode, String)> {
        Ok(0)
    }
}

/// Set once stream 0 delivered frame bytes.
#[derive(Default)]
struct FirstFrame {
    seen: Mutex<bool>,
    changed: Condvar,
}

impl FirstFrame {
    fn open(&self) {
        *self.seen.lock().expect("not poisoned") = true;
        self.changed.notify_all();
    }

    /// True if stream 0 carried a frame within `GATE_TIMEOUT`.
    fn wait(&self) -> bool {
        let seen = self.seen.lock().expect("not poisoned");
        let (seen, _) = self
            .changed
            .wait_timeout_while(seen, GATE_TIMEOUT, |seen| !*seen)
            .expect("not poisoned");
        *seen
    }
}

#[test]
fn the_transfer_starts_on_stream_0_while_the_others_join() {
    let memory = std::env::temp_dir().join(format!("dwcp-late-join-{}", std::process::id()));
    std::fs::write(&memory, vec![0x5a_u8; 4 << 20]).expect("guest memory file");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("bound");
    let first_frame = Arc::new(FirstFrame::default());

    let destination = {
        let first_frame = Arc::clone(&first_frame);
        std::thread::spawn(move || {
            let (mut primary, _) = listener.accept().expect("stream 0");
            serve_handshake(&mut primary, true, None, &mut AdmitAll).expect("stream 0 handshake");
            let reader = {
                let first_frame = Arc::clone(&first_frame);
                let mut primary = primary.try_clone().expect("clone");
                primary
                    .set_read_timeout(Some(GATE_TIMEOUT))
                    .expect("read timeout");
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 4096];
                    if matches!(primary.read(&mut buffer), Ok(n) if n > 0) {
                        first_frame.open();
                    }
                })
            };
            let mut joined = Vec::new();
            for _ in 1..STREAMS {
                let (mut join, _) = listener.accept().expect("a joining stream");
                let answered = first_frame.wait()
                    && serve_handshake(&mut join, true, None, &mut AdmitAll).is_ok();
                joined.push((answered, join));
            }
            reader.join().expect("reader");
            let answered = joined.iter().filter(|(answered, _)| *answered).count();
            // Closing every connection ends the source's migration.
            drop(joined);
            let _ = primary.shutdown(std::net::Shutdown::Both);
            answered
        })
    };

    let handles = MigrationHandles::default();
    let config = SourceConfig {
        memory: memory.clone(),
        destination: addr.to_string(),
        insecure_plaintext: true,
        streams: Some(STREAMS),
        reconnect_timeout_ms: 200,
        verify_timeout_ms: 2_000,
        ..SourceConfig::DEFAULTS
    };
    let source = {
        let handles = handles.clone();
        std::thread::spawn(move || migrate_with(config, &handles))
    };
    let answered = destination.join().expect("destination");
    handles.live.cancel();
    let summary = source.join().expect("source");
    std::fs::remove_file(&memory).expect("cleanup");
    assert_eq!(
        usize::from(STREAMS - 1),
        answered,
        "joins answered only after stream 0's first frame (source: {summary:?})"
    );
    assert!(
        summary.setup_ms.is_some(),
        "the transfer started: {summary:?}"
    );
}
