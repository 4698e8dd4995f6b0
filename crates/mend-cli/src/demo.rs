//! `mend demo`: the bundled demo job against its own flaky loopback
//! service, so a newcomer sees healing in the first minute.

use std::path::PathBuf;

use mend_agent::demo;
use mend_core::config::Config;

use crate::print::errln;
use crate::{ApproveMode, EXIT_BAD_INPUT, EXIT_INTERNAL};

/// `mend demo`.
pub async fn demo(home: &crate::run::Home, config: &Config, json: bool, approve: Option<ApproveMode>, workdir: Option<PathBuf>) -> u8 {
    let tmp;
    let dir = match workdir {
        Some(d) => d,
        None => match tempfile::Builder::new().prefix("mend-demo-").tempdir() {
            Ok(t) => {
                tmp = t;
                tmp.path().to_path_buf()
            }
            Err(e) => {
                errln!("mend: cannot make a work folder: {e}");
                return EXIT_INTERNAL;
            }
        },
    };
    let server = match demo::server().await {
        Ok(s) => s,
        Err(e) => {
            errln!("mend: cannot start the demo service: {e}");
            return EXIT_INTERNAL;
        }
    };
    let job_path = match demo::prepare(&dir) {
        Ok(p) => p,
        Err(e) => {
            errln!("mend: cannot lay out {}: {e}", dir.display());
            return EXIT_INTERNAL;
        }
    };
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    env.extend(demo::env(&server));
    errln!("Demo service on {} — work folder {}\n", server.url(""), dir.display());
    let job = match crate::run::load(&job_path, config, &env) {
        Ok(j) => j,
        Err(e) => {
            errln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    let spec = mend_agent::RunSpec { job_path: Some(&job_path), ..mend_agent::RunSpec::new(&job, env) };
    crate::run::execute(home, config, spec, crate::run::Output { json, approve, quiet: false }).await
}
