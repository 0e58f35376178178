//! The peer link over real sockets on 127.0.0.1, with certificates made by
//! `scripts/gen-certs.sh` in a fresh temporary directory per test.
//!
//! Every test runs on tokio's current-thread runtime, so the server's tasks
//! run on the test's thread and the test's log capture
//! (`tracing::subscriber::set_default`) sees their warnings. Nothing waits
//! for a fixed time: a test that needs the server to have done something
//! polls for it with a generous deadline.

#![allow(clippy::unwrap_used)]

mod common;

use common::TempDir;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dwcp_controlplane::peer::protocol::{ALPN_PROTOCOL, LINE_BYTES_MAX};
use dwcp_controlplane::peer::{
    serve, PeerClient, PeerError, PeerHandler, PeerRequest, PeerResponse, TlsIdentity,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Longest a test waits for the server to have logged something.
const WAIT_DEADLINE: Duration = Duration::from_secs(20);
const REFUSED: &str = "refused control-plane peer";

// ---------------------------------------------------------------- fixtures

fn gen_certs_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/gen-certs.sh")
}

/// Runs `scripts/gen-certs.sh ARGS...` and returns its output.
fn run_gen_certs(args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(gen_certs_script())
        .args(args)
        .output()
        .unwrap()
}

/// A CA and host certificates for `hosts` in a fresh directory.
fn make_pki(tag: &str, hosts: &[&str]) -> TempDir {
    let dir = TempDir::new(tag);
    let out = dir.0.to_str().unwrap().to_owned();
    let mut args = vec!["--out", out.as_str()];
    args.extend_from_slice(hosts);
    let output = run_gen_certs(&args);
    assert!(
        output.status.success(),
        "gen-certs.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

fn identity(pki: &TempDir, host: &str) -> TlsIdentity {
    TlsIdentity::load(
        &pki.path("ca.pem"),
        &pki.path(&format!("{host}.pem")),
        &pki.path(&format!("{host}.key")),
    )
    .unwrap()
}

/// Records every call and answers like a destination would.
struct RecordingHandler {
    node_id: String,
    calls: Mutex<Vec<(String, PeerRequest)>>,
}

impl RecordingHandler {
    fn calls(&self) -> Vec<(String, PeerRequest)> {
        self.calls.lock().unwrap().clone()
    }
}

impl PeerHandler for RecordingHandler {
    fn handle(
        &self,
        peer_id: String,
        request: PeerRequest,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = PeerResponse> + Send + '_>> {
        let response = match &request {
            PeerRequest::Ping => PeerResponse::Pong {
                node_id: self.node_id.clone(),
            },
            PeerRequest::PrepareReceive { .. } => PeerResponse::Prepared {
                data_address: "127.0.0.1:7000".to_owned(),
            },
            PeerRequest::Report { .. } | PeerRequest::Cancel { .. } => PeerResponse::Ok,
        };
        self.calls.lock().unwrap().push((peer_id, request));
        Box::pin(async move { response })
    }
}

/// A running `serve` on 127.0.0.1 port 0.
struct Server {
    address: String,
    handler: Arc<RecordingHandler>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), PeerError>>,
}

impl Server {
    async fn start(identity: &TlsIdentity) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let handler = Arc::new(RecordingHandler {
            node_id: identity.host_id().to_owned(),
            calls: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(
            listener,
            identity.server_config().unwrap(),
            Arc::clone(&handler) as Arc<dyn PeerHandler>,
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            address,
            handler,
            stop,
            task,
        }
    }

    /// Stops the server and checks that `serve` returned `Ok`.
    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(WAIT_DEADLINE, self.task)
            .await
            .expect("serve returns after shutdown")
            .unwrap()
            .unwrap();
    }
}

/// Captures this thread's tracing output.
#[derive(Clone, Default)]
struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs the capture for the current thread until the guard drops.
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let capture = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || capture.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }

    /// Waits until `needle` has been logged `times` times.
    async fn wait_for(&self, needle: &str, times: usize) {
        let deadline = tokio::time::Instant::now() + WAIT_DEADLINE;
        while self.count(needle) < times {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{needle:?} logged {} times, expected {times}; log:\n{}",
                self.count(needle),
                self.text()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca: &Path) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

/// A client configuration trusting `ca`, presenting `client` (PEM cert and
/// key paths) or no certificate at all.
fn custom_client_config(ca: &Path, client: Option<(&Path, &Path)>) -> Arc<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(ca));
    let mut config = match client {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            builder
                .with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key).unwrap())
                .unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN_PROTOCOL.to_vec()];
    Arc::new(config)
}

fn prepare_receive() -> PeerRequest {
    PeerRequest::PrepareReceive {
        migration_id: 42,
        vm_id: "vm-7".to_owned(),
        memory_bytes: 4 << 30,
        key_id: 9,
        key_hex: "5a".repeat(32),
        streams: 8,
        codec: true,
    }
}

fn expect_tls_error(result: Result<PeerResponse, PeerError>) -> rustls::Error {
    match result {
        Err(PeerError::Tls { source, .. }) => source,
        other => panic!("expected PeerError::Tls, got {other:?}"),
    }
}

/// Sends `payload` over a TLS connection made with the good client
/// configuration and returns the server's response line.
async fn raw_exchange(address: &str, config: Arc<rustls::ClientConfig>, payload: &[u8]) -> String {
    let tcp = TcpStream::connect(address).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut tls = connector
        .connect(ServerName::try_from("host-b").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(payload).await.unwrap();
    tls.flush().await.unwrap();
    let mut reader = BufReader::new(tls);
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    line
}

// ------------------------------------------------------------------- tests

#[tokio::test]
async fn good_pair_ping_and_prepare_receive() {
    let pki = make_pki("good", &["host-a", "host-b"]);
    let server_identity = identity(&pki, "host-b");
    let client_identity = identity(&pki, "host-a");
    assert_eq!(server_identity.host_id(), "host-b");
    assert_eq!(client_identity.host_id(), "host-a");
    let server = Server::start(&server_identity).await;
    let client = PeerClient::new(client_identity.client_config().unwrap());

    // Ping: the handler sees the client's id from its certificate.
    let pong = client
        .request(&server.address, "host-b", &PeerRequest::Ping)
        .await
        .unwrap();
    assert_eq!(
        pong,
        PeerResponse::Pong {
            node_id: "host-b".to_owned()
        }
    );

    // PrepareReceive arrives intact, key included.
    let prepared = client
        .request(&server.address, "host-b", &prepare_receive())
        .await
        .unwrap();
    assert_eq!(
        prepared,
        PeerResponse::Prepared {
            data_address: "127.0.0.1:7000".to_owned()
        }
    );
    assert_eq!(
        server.handler.calls(),
        vec![
            ("host-a".to_owned(), PeerRequest::Ping),
            ("host-a".to_owned(), prepare_receive())
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let pki = make_pki("ca1", &["host-b"]);
    let other = make_pki("ca2", &["host-a"]);
    let server = Server::start(&identity(&pki, "host-b")).await;

    // Trusts the server's CA but presents a certificate of another CA: the
    // server refuses it.
    let config = custom_client_config(
        &pki.path("ca.pem"),
        Some((&other.path("host-a.pem"), &other.path("host-a.key"))),
    );
    let result = PeerClient::new(config)
        .request(&server.address, "host-b", &PeerRequest::Ping)
        .await;
    // Under TLS 1.3 the refusal arrives as the server's alert.
    let source = expect_tls_error(result);
    assert!(
        matches!(source, rustls::Error::AlertReceived(_)),
        "{source:?}"
    );
    logs.wait_for(REFUSED, 1).await;

    // Entirely from the other CA: the client refuses the server first, and
    // the server logs the aborted handshake too.
    let stranger = PeerClient::new(identity(&other, "host-a").client_config().unwrap());
    let source = expect_tls_error(
        stranger
            .request(&server.address, "host-b", &PeerRequest::Ping)
            .await,
    );
    assert!(
        matches!(source, rustls::Error::InvalidCertificate(_)),
        "{source:?}"
    );
    logs.wait_for(REFUSED, 2).await;

    assert!(server.handler.calls().is_empty(), "the handler was called");
    server.stop().await;
}

#[tokio::test]
async fn client_without_certificate_is_refused() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let pki = make_pki("nocert", &["host-b"]);
    let server = Server::start(&identity(&pki, "host-b")).await;

    let config = custom_client_config(&pki.path("ca.pem"), None);
    let result = PeerClient::new(config)
        .request(&server.address, "host-b", &PeerRequest::Ping)
        .await;
    // Under TLS 1.3 the refusal arrives as the server's alert.
    let source = expect_tls_error(result);
    assert!(
        matches!(source, rustls::Error::AlertReceived(_)),
        "{source:?}"
    );
    logs.wait_for(REFUSED, 1).await;
    assert!(server.handler.calls().is_empty(), "the handler was called");
    server.stop().await;
}

#[tokio::test]
async fn server_certificate_for_another_id_is_refused() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let pki = make_pki("name", &["host-a", "host-b", "host-c"]);
    let server = Server::start(&identity(&pki, "host-b")).await;
    let client = PeerClient::new(identity(&pki, "host-a").client_config().unwrap());

    // host-b's certificate is from the right CA but not valid for host-c.
    let source = expect_tls_error(
        client
            .request(&server.address, "host-c", &PeerRequest::Ping)
            .await,
    );
    assert!(
        matches!(source, rustls::Error::InvalidCertificate(_)),
        "{source:?}"
    );
    logs.wait_for(REFUSED, 1).await;
    assert!(server.handler.calls().is_empty(), "the handler was called");

    // The same client and server work with the right id.
    let pong = client
        .request(&server.address, "host-b", &PeerRequest::Ping)
        .await
        .unwrap();
    assert!(matches!(pong, PeerResponse::Pong { .. }), "{pong:?}");

    // An id that is not a host id is refused before connecting.
    let result = client
        .request(&server.address, "127.0.0.1", &PeerRequest::Ping)
        .await;
    assert!(
        matches!(result, Err(PeerError::InvalidPeerId { .. })),
        "{result:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_request_lines_get_errors_and_the_server_survives() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let pki = make_pki("lines", &["host-a", "host-b"]);
    let server = Server::start(&identity(&pki, "host-b")).await;
    let client_config = identity(&pki, "host-a").client_config().unwrap();
    let client = PeerClient::new(Arc::clone(&client_config));

    // An oversized request is refused by the client before sending.
    let oversized = PeerRequest::Report {
        migration_id: 1,
        completed: true,
        summary: serde_json::Value::String("x".repeat(LINE_BYTES_MAX)),
    };
    let result = client.request(&server.address, "host-b", &oversized).await;
    match result {
        Err(PeerError::Protocol { reason, .. }) => {
            assert!(reason.contains("longer than"), "{reason}")
        }
        other => panic!("expected PeerError::Protocol, got {other:?}"),
    }

    // A raw oversized line is answered with an error and not buffered whole.
    let mut line = vec![b' '; LINE_BYTES_MAX + 4096];
    line.push(b'\n');
    let answer = raw_exchange(&server.address, Arc::clone(&client_config), &line).await;
    assert!(answer.contains(r#""type":"error""#), "{answer}");
    assert!(answer.contains("longer than"), "{answer}");

    // Bad JSON and an invalid PrepareReceive (key not hex) are answered with
    // errors too.
    let answer = raw_exchange(&server.address, Arc::clone(&client_config), b"{not json\n").await;
    assert!(answer.contains(r#""type":"error""#), "{answer}");
    let bad_key = serde_json::json!({
        "type": "prepare_receive", "migration_id": 1, "vm_id": "vm-1", "memory_bytes": 4096,
        "key_id": 1, "key_hex": "zz".repeat(32), "streams": 1, "codec": false,
    });
    let mut payload = serde_json::to_vec(&bad_key).unwrap();
    payload.push(b'\n');
    let answer = raw_exchange(&server.address, Arc::clone(&client_config), &payload).await;
    assert!(answer.contains("key_hex"), "{answer}");
    logs.wait_for("bad request from control-plane peer", 3)
        .await;
    assert!(
        server.handler.calls().is_empty(),
        "a bad line reached the handler"
    );

    // The server still serves a good client.
    let pong = client
        .request(&server.address, "host-b", &PeerRequest::Ping)
        .await
        .unwrap();
    assert!(matches!(pong, PeerResponse::Pong { .. }), "{pong:?}");
    assert_eq!(server.handler.calls().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_silent_connection_does_not_hold_up_others() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let pki = make_pki("silent", &["host-a", "host-b"]);
    let server = Server::start(&identity(&pki, "host-b")).await;
    let client = PeerClient::new(identity(&pki, "host-a").client_config().unwrap());

    // A TCP connection that never starts TLS, open for the whole request.
    let silent = TcpStream::connect(&server.address).await.unwrap();
    let pong = client
        .request(&server.address, "host-b", &PeerRequest::Ping)
        .await
        .unwrap();
    assert!(matches!(pong, PeerResponse::Pong { .. }), "{pong:?}");

    // Closing it ends its handshake, which is logged as a refusal.
    drop(silent);
    logs.wait_for(REFUSED, 1).await;
    server.stop().await;
}

#[test]
fn identity_load_reports_the_file_and_the_cause() {
    let pki = make_pki("load", &["host-a"]);
    let other = make_pki("load2", &["host-a"]);

    let missing = pki.path("nope.pem");
    match TlsIdentity::load(&pki.path("ca.pem"), &missing, &pki.path("host-a.key")) {
        Err(PeerError::Pem { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected PeerError::Pem, got {other:?}"),
    }
    // A key file holds no certificate.
    match TlsIdentity::load(
        &pki.path("ca.pem"),
        &pki.path("host-a.key"),
        &pki.path("host-a.key"),
    ) {
        Err(PeerError::Pem { reason, .. }) => {
            assert!(reason.contains("no CERTIFICATE"), "{reason}")
        }
        other => panic!("expected PeerError::Pem, got {other:?}"),
    }
    // A certificate of another CA is not an identity under this CA.
    match TlsIdentity::load(
        &pki.path("ca.pem"),
        &other.path("host-a.pem"),
        &other.path("host-a.key"),
    ) {
        Err(PeerError::Identity { reason, .. }) => {
            assert!(reason.contains("not valid under the CA"), "{reason}")
        }
        other => panic!("expected PeerError::Identity, got {other:?}"),
    }
    // A key that does not belong to the certificate fails to build a config.
    let mismatched = TlsIdentity::load(
        &pki.path("ca.pem"),
        &pki.path("host-a.pem"),
        &pki.path("ca.key"),
    )
    .unwrap();
    assert!(matches!(
        mismatched.server_config(),
        Err(PeerError::Config { .. })
    ));
    assert!(matches!(
        mismatched.client_config(),
        Err(PeerError::Config { .. })
    ));
    let shown = format!("{:?}", identity(&pki, "host-a"));
    assert!(
        shown.contains("<redacted>") && !shown.contains("PRIVATE"),
        "{shown}"
    );
}

#[test]
fn gen_certs_is_idempotent_and_validates_ids() {
    let pki = make_pki("script", &["host-a"]);
    let read = |name: &str| std::fs::read(pki.path(name)).unwrap();
    let (ca, host) = (read("ca.pem"), read("host-a.pem"));
    for key in ["ca.key", "host-a.key"] {
        let mode = std::fs::metadata(pki.path(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key} mode {mode:o}");
    }
    let out = pki.0.to_str().unwrap();

    // A second run reuses the CA and host-a, and adds host-b under the same CA.
    let output = run_gen_certs(&["--out", out, "host-a", "host-b"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(read("ca.pem"), ca);
    assert_eq!(read("host-a.pem"), host);
    assert_eq!(identity(&pki, "host-b").host_id(), "host-b");

    // --force makes a new CA and a new host certificate.
    let output = run_gen_certs(&["--out", out, "--force", "host-a"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_ne!(read("ca.pem"), ca);
    assert_ne!(read("host-a.pem"), host);
    assert_eq!(identity(&pki, "host-a").host_id(), "host-a");

    // Invalid ids are usage errors (exit 2) and write nothing.
    for bad in ["bad/id", "ca", "white space", &"x".repeat(65)] {
        let output = run_gen_certs(&["--out", out, bad]);
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
    }
    let mut names: Vec<String> = std::fs::read_dir(&pki.0)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ca.key",
            "ca.pem",
            "host-a.key",
            "host-a.pem",
            "host-b.key",
            "host-b.pem"
        ]
    );
}
