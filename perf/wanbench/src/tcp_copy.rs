//! The plain TCP peer: `tcp-send` copies a file (or stdin) into one TCP
//! stream, `tcp-recv` accepts one connection and copies it into a file (or
//! stdout). What `nc`/`socat` would do, with a completion the orchestrator
//! can time: the sender half-closes, the receiver writes everything out,
//! closes, and only then does the sender exit.
//!
//! Both use `std::io::copy`, which moves the bytes with `sendfile`/`splice`
//! where the kernel allows, so the baseline is not slowed by user-space
//! copies. Each prints one JSON line on stderr (stdout may carry the data).

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the sender may take to connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The input (`-` = stdin) as a reader.
fn open_input(input: &Path) -> Result<Box<dyn Read>> {
    if input == Path::new("-") {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let file = File::open(input).with_context(|| format!("opening {}", input.display()))?;
    Ok(Box::new(file))
}

/// The output (`-` = stdout) as a writer.
fn open_output(output: &Path) -> Result<Box<dyn Write>> {
    if output == Path::new("-") {
        return Ok(Box::new(std::io::stdout().lock()));
    }
    let file = File::create(output).with_context(|| format!("creating {}", output.display()))?;
    Ok(Box::new(file))
}

fn report(role: &str, bytes: u64, started: Instant) {
    let line = serde_json::json!({
        "role": role,
        "bytes": bytes,
        "secs": started.elapsed().as_secs_f64(),
    });
    eprintln!("{line}");
}

/// `tcp-send`: copies `input` to `connect`, half-closes, waits for the
/// receiver to close.
pub fn send(connect: SocketAddr, input: &Path) -> Result<()> {
    let started = Instant::now();
    let mut reader = open_input(input)?;
    let mut stream = TcpStream::connect_timeout(&connect, CONNECT_TIMEOUT)
        .with_context(|| format!("connecting to {connect}"))?;
    stream.set_nodelay(true).context("TCP_NODELAY")?;
    let bytes = std::io::copy(&mut reader, &mut stream).context("sending")?;
    stream.shutdown(Shutdown::Write).context("half-closing")?;
    // The receiver closes once it has written everything out.
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .context("waiting for the receiver to close")?;
    report("tcp-send", bytes, started);
    Ok(())
}

/// `tcp-recv`: accepts one connection on `listen` within `accept_timeout`
/// and copies it into `output` until the sender half-closes.
pub fn recv(listen: SocketAddr, output: &Path, accept_timeout: Duration) -> Result<()> {
    let listener = TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    listener
        .set_nonblocking(true)
        .context("non-blocking listener")?;
    let deadline = Instant::now() + accept_timeout;
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    bail!("no connection on {listen} within {accept_timeout:?}");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e).context("accept"),
        }
    };
    stream.set_nonblocking(false).context("blocking stream")?;
    let started = Instant::now();
    let mut writer = open_output(output)?;
    let bytes = std::io::copy(&mut stream, &mut writer).context("receiving")?;
    writer.flush().context("flushing the output")?;
    drop(writer);
    report("tcp-recv", bytes, started);
    stream.shutdown(Shutdown::Both).ok();
    Ok(())
}
