//! `mend demo`: the bundled demo job against its own flaky loopback
//! service, so a newcomer sees healing in the first minute.

use std::path::{Path, PathBuf};

use mend_core::config::Config;
use mend_faults::{FaultServer, Reply, Script, closed_port};

use crate::{ApproveMode, EXIT_BAD_INPUT, EXIT_INTERNAL};

/// The demo job file, embedded.
pub const DEMO_JOB: &str = include_str!("../../../jobs/demo.toml");

/// Starts the flaky service the demo job talks to.
pub async fn demo_server() -> std::io::Result<FaultServer> {
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

/// Lays out the demo's work folder: the job file, a data file whose name
/// the job gets wrong, an existing outbox, a staging folder to clean.
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

/// `mend demo`.
pub async fn demo(data_dir: &Path, config: &Config, json: bool, approve: Option<ApproveMode>, workdir: Option<PathBuf>) -> u8 {
    let tmp;
    let dir = match workdir {
        Some(d) => d,
        None => match tempfile::Builder::new().prefix("mend-demo-").tempdir() {
            Ok(t) => {
                tmp = t;
                tmp.path().to_path_buf()
            }
            Err(e) => {
                eprintln!("mend: cannot make a work folder: {e}");
                return EXIT_INTERNAL;
            }
        },
    };
    let server = match demo_server().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mend: cannot start the demo service: {e}");
            return EXIT_INTERNAL;
        }
    };
    let job_path = match prepare(&dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mend: cannot lay out {}: {e}", dir.display());
            return EXIT_INTERNAL;
        }
    };
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    env.push(("MEND_DEMO_URL".into(), server.url("")));
    env.push(("MEND_DEMO_DEAD".into(), format!("http://127.0.0.1:{}", closed_port())));
    eprintln!("Demo service on {} — work folder {}\n", server.url(""), dir.display());
    let job = match crate::run::load(&job_path, config, &env) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    crate::run::execute(data_dir, &job, env, Some(&job_path), None, crate::run::Output { json, approve, quiet: false }).await
}
