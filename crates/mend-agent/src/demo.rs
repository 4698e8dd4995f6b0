//! The bundled demo: a job against its own flaky loopback service, so a
//! newcomer sees healing in the first minute — transient 503s, a rate limit
//! with Retry-After, a dead service with a mirror, a mistyped path — ending
//! with one approval request before a destructive command.

use std::path::{Path, PathBuf};

use mend_faults::{FaultServer, Reply, Script, closed_port};

/// The demo job file, embedded.
pub const DEMO_JOB: &str = include_str!("../../../jobs/demo.toml");

/// Starts the flaky service the demo job talks to.
pub async fn server() -> std::io::Result<FaultServer> {
    FaultServer::start([
        ("/inventory", Script::new().then(2, Reply::status(503, "upstream busy")).always(Reply::json(200, r#"{"items": 42}"#))),
        (
            "/prices",
            Script::new()
                .then(1, Reply::status(429, "slow down").header("Retry-After", "1"))
                .always(Reply::json(200, r#"{"prices": [3, 5, 8]}"#)),
        ),
        ("/mirror/report", Script::new().always(Reply::json(200, r#"{"report": "ok", "source": "mirror"}"#))),
    ])
    .await
}

/// The environment the demo job needs on top of the process's own.
pub fn env(server: &FaultServer) -> Vec<(String, String)> {
    vec![("MEND_DEMO_URL".into(), server.url("")), ("MEND_DEMO_DEAD".into(), format!("http://127.0.0.1:{}", dead_port()))]
}

/// The "dead service": the same address every time (port 9, discard, which
/// nothing serves on a normal machine) so that the lesson the first demo
/// learns applies to the next one; another closed port if 9 answers.
fn dead_port() -> u16 {
    let nine = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
    match std::net::TcpStream::connect_timeout(&nine, std::time::Duration::from_millis(200)) {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => 9,
        _ => closed_port(),
    }
}

/// Lays out the demo's work folder: the job file, a data file whose name
/// the job gets wrong, an existing outbox, a staging folder to clean.
/// Returns the job file.
pub fn prepare(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir.join("data"))?;
    std::fs::create_dir_all(dir.join("outbox"))?;
    std::fs::create_dir_all(dir.join("staging/tmp"))?;
    std::fs::write(dir.join("data/export.csv"), "sku,qty\nA-1,4\nB-2,7\n")?;
    std::fs::write(dir.join("staging/tmp/partial.part"), "half a file")?;
    let job = dir.join("demo.toml");
    std::fs::write(&job, DEMO_JOB)?;
    Ok(job)
}
