//! `mend`: the healing engine on the command line, for scripts, CI and
//! servers. Runs job files with healing, shows the journal's logs and
//! metrics, lists pending approvals, codes and tools, and shows and sets
//! aside the MCP servers jobs call (`mend mcp`), and answers Claude Code's
//! hooks (`mend hook claude`, whose exit codes are Claude Code's: 0 or 1,
//! never 2).
//!
//! Exit codes: 0 success, 1 the job failed, 2 bad input (a job file or
//! flag), 3 waiting for or refused by a person, 4 Mend itself failed,
//! 130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM, 129 by SIGHUP — 128
//! plus the signal's number, what a shell reports for a process the signal
//! killed, so scripts and service managers read it the same whether Mend
//! stopped cleanly or not. Each of the three stops a run the same way
//! ([`signal`]); `mend daemon` stopped between runs exits 0.
//!
//! SIGPIPE: the commands that only print (logs, metrics, runs, codes, …)
//! take its default action, so `mend logs | head` ends quietly. The
//! commands that run jobs keep it ignored (Rust's default): a child that
//! exits without reading its standard input must not kill Mend. Their
//! printing never panics on a closed stream ([`print::errln`]); children
//! start with the default action again (std resets it at spawn).

mod daemon;
mod demo;
mod hook;
mod mcp;
mod memory;
mod print;
mod query;
mod run;
mod safety;
mod signal;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use query::ApprovalsCmd;

/// Exit code: the job succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: the job failed (`mend mcp tools`: every server asked about could not be reached).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad input.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code: waiting for, or refused by, a person.
pub const EXIT_WAITING: u8 = 3;
/// Exit code: Mend itself failed (journal, internal error).
pub const EXIT_INTERNAL: u8 = 4;
/// Exit code: interrupted (Ctrl-C), as shells report SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit code: interrupted by SIGTERM (`systemctl stop`, `timeout`), 128 + 15.
pub const EXIT_TERMINATED: u8 = 143;
/// Exit code: interrupted by SIGHUP (the terminal closed), 128 + 1.
pub const EXIT_HANGUP: u8 = 129;

#[derive(Parser)]
#[command(name = "mend", version, about = "Run automation jobs inside a self-healing loop")]
struct Cli {
    /// Where the journal lives (default: the OS data directory, e.g. ~/.local/share/mend).
    #[arg(long, global = true, env = "MEND_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Defaults for every job (default: the OS config directory's mend/config.toml, if present).
    #[arg(long, global = true, env = "MEND_CONFIG")]
    config: Option<PathBuf>,
    /// The memory file that runs read lessons from and learn into, and that `mend memory` edits
    /// (default: $MEND_MEMORY, else MEMORY.md in the data directory).
    #[arg(long, global = true, value_name = "FILE")]
    memory: Option<PathBuf>,
    #[command(flatten)]
    llm: LlmFlags,
    #[command(subcommand)]
    cmd: Cmd,
}

/// The LLM layer, over the config file's `[[llm]]` chain.
#[derive(clap::Args)]
struct LlmFlags {
    /// No LLM layer, whatever the config says.
    #[arg(long, global = true)]
    no_llm: bool,
    /// The primary model's API base URL (adds a model when the config has none).
    #[arg(long, global = true, value_name = "URL")]
    llm_base_url: Option<String>,
    /// The primary model's id.
    #[arg(long, global = true, value_name = "MODEL")]
    llm_model: Option<String>,
    /// The primary model's wire format: openai (also Ollama, llama.cpp, vLLM) or anthropic.
    #[arg(long, global = true, value_name = "PROVIDER")]
    llm_provider: Option<String>,
    /// The environment variable holding the primary model's API key.
    #[arg(long, global = true, value_name = "VAR")]
    llm_key_env: Option<String>,
    /// The primary model's request timeout (e.g. 30s).
    #[arg(long, global = true, value_name = "DURATION")]
    llm_timeout: Option<String>,
}

impl LlmFlags {
    /// Applies the flags to the config's chain.
    fn apply(self, config: &mut mend_core::config::Config) -> Result<(), String> {
        use mend_core::config::{LlmModel, LlmProvider};
        if self.no_llm {
            config.llm.clear();
            return Ok(());
        }
        let provider = match self.llm_provider.as_deref() {
            None => None,
            Some("openai") => Some(LlmProvider::Openai),
            Some("anthropic") => Some(LlmProvider::Anthropic),
            Some(p) => return Err(format!("--llm-provider: `{p}` is not openai or anthropic")),
        };
        let timeout = match &self.llm_timeout {
            Some(t) => Some(mend_core::job::parse_duration_ms(t).map_err(|e| format!("--llm-timeout: {e}"))?),
            None => None,
        };
        if config.llm.is_empty() {
            match (&self.llm_base_url, &self.llm_model) {
                (Some(url), Some(model)) => config.llm.push(LlmModel {
                    name: model.clone(),
                    provider: provider.unwrap_or(LlmProvider::Openai),
                    base_url: url.trim_end_matches('/').to_owned(),
                    model: model.clone(),
                    api_key_env: self.llm_key_env.clone(),
                    api_key_file: None,
                    timeout_ms: timeout.unwrap_or(60_000),
                    connect_timeout_ms: 5_000,
                    max_tokens: 800,
                }),
                (None, None) if provider.is_none() && timeout.is_none() && self.llm_key_env.is_none() => {}
                _ => return Err("--llm-base-url and --llm-model are both needed when the config has no [[llm]] model".into()),
            }
            return Ok(());
        }
        let m = &mut config.llm[0];
        if let Some(u) = self.llm_base_url {
            m.base_url = u.trim_end_matches('/').to_owned();
        }
        if let Some(model) = self.llm_model {
            m.model = model;
        }
        if let Some(p) = provider {
            m.provider = p;
        }
        if let Some(k) = self.llm_key_env {
            m.api_key_env = Some(k);
        }
        if let Some(t) = timeout {
            m.timeout_ms = t;
        }
        Ok(())
    }
}

/// How approvals are answered when no person is at a terminal.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ApproveMode {
    /// Ask on the terminal (the default when stdin is a terminal).
    Ask,
    /// Take the recommended option.
    Recommended,
    /// Abort the job.
    Abort,
    /// Leave the request pending in the journal and stop (exit 3).
    Wait,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a job file with healing.
    Run {
        /// The job file (TOML).
        job: PathBuf,
        /// Print a machine-readable report on stdout (progress still goes to stderr).
        #[arg(long)]
        json: bool,
        /// How to answer approvals. Default: ask on a terminal, wait otherwise.
        #[arg(long, value_enum)]
        approve: Option<ApproveMode>,
        /// No progress lines.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check job files without running them.
    Check {
        /// Job files.
        #[arg(required = true)]
        jobs: Vec<PathBuf>,
    },
    /// Run the bundled demo job against its own flaky loopback service.
    Demo {
        /// Print a machine-readable report on stdout.
        #[arg(long)]
        json: bool,
        /// How to answer approvals. Default: ask on a terminal, wait otherwise.
        #[arg(long, value_enum)]
        approve: Option<ApproveMode>,
        /// Where the demo's files go (default: a fresh temporary folder).
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Run the job files of a folder on their schedules, until stopped.
    Daemon {
        /// The folder of job files (each with a `schedule`).
        #[arg(long)]
        jobs: PathBuf,
        /// How approvals are answered (default: wait, leaving them pending).
        #[arg(long, value_enum)]
        approve: Option<ApproveMode>,
        /// Stop after this many runs (for tests and one-off catch-ups).
        #[arg(long)]
        max_runs: Option<usize>,
    },
    /// Show journal events.
    Logs(query::LogsArgs),
    /// Show healing metrics from the journal.
    Metrics(query::MetricsArgs),
    /// Recent runs, newest first, with requests still waiting; a run whose
    /// process ended without closing it shows as `interrupted`, with why.
    Runs {
        #[command(subcommand)]
        cmd: Option<RunsCmd>,
        /// The newest N (0 = all).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approval requests.
    Approvals {
        #[command(subcommand)]
        cmd: query::ApprovalsCmd,
    },
    /// The memory file's lessons: search, add, edit, rm, reindex, check.
    Memory(memory::MemoryArgs),
    /// List the error codes with their meaning and default policy.
    Codes {
        /// As the markdown table of docs/error-codes.md.
        #[arg(long)]
        markdown: bool,
    },
    /// The safety gate: its rules table, or its verdict on a command.
    Safety {
        #[command(subcommand)]
        cmd: safety::SafetyCmd,
    },
    /// List the tools and their argument schemas.
    Tools {
        /// Full JSON schemas, with each configured MCP server's tools under `mcp`.
        #[arg(long)]
        json: bool,
    },
    /// MCP servers: their tools and states; disable or enable one by hand.
    Mcp {
        #[command(subcommand)]
        cmd: mcp::McpCmd,
    },
    /// Another agent's hooks, handled by Mend: `mend hook claude` for Claude Code's own tools.
    Hook {
        #[command(subcommand)]
        cmd: hook::HookCmd,
    },
}

impl Cmd {
    /// Whether the command runs jobs (and so starts children, writes their
    /// standard input and listens for stop signals).
    fn runs_jobs(&self) -> bool {
        matches!(
            self,
            Cmd::Run { .. }
                | Cmd::Demo { .. }
                | Cmd::Daemon { .. }
                | Cmd::Approvals { cmd: ApprovalsCmd::Decide { .. } }
                | Cmd::Runs { cmd: Some(RunsCmd::Resume { .. }), .. }
                // These start MCP servers: a write to one that died at once
                // must be an error, not a SIGPIPE that ends Mend (red team).
                | Cmd::Check { .. }
                | Cmd::Tools { .. }
                | Cmd::Mcp { .. }
        )
    }
}

/// `mend runs` subcommands.
#[derive(Subcommand)]
enum RunsCmd {
    /// Go on with a run whose process ended before the run did (killed,
    /// crashed, stopped): applies a decision made meanwhile, asks its
    /// waiting request, or goes on from the step that was going on. A call
    /// that may have run is never run again unasked.
    Resume {
        /// The run id (`mend runs`).
        run: String,
        /// Print the JSON report on stdout.
        #[arg(long)]
        json: bool,
        /// How approvals are answered (default: ask at a terminal, else wait).
        #[arg(long, value_enum)]
        approve: Option<ApproveMode>,
    },
    /// End a run a person gives up on (its process ended; it cannot or
    /// should not go on): its waiting requests are decided `abort`, and the
    /// run is journaled as aborted, closed by you.
    Close {
        /// The run id (`mend runs`).
        run: String,
        /// Why, kept in the journal.
        #[arg(long)]
        note: Option<String>,
    },
}

/// The data directory: the flag, `MEND_DATA_DIR`, or the OS default.
fn data_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.unwrap_or_else(mend_agent::load::default_data_dir)
}

/// The memory file: the flag, `MEND_MEMORY` (unless empty), or `MEMORY.md`
/// in the data directory — what [`mend_agent::Agent::open`] reads, with the
/// flag first. Not clap's `env`: an empty `MEND_MEMORY` must not make every
/// command fail as a missing value.
fn memory_file(flag: Option<PathBuf>, data_dir: &Path) -> PathBuf {
    flag.or_else(|| std::env::var_os("MEND_MEMORY").filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| mend_agent::memory::Lessons::default_path(data_dir))
}

/// Output piped into `head` must end the process quietly, as for any Unix
/// tool, not panic in `println!`: restore the default SIGPIPE action. Only
/// for the commands that print (see the header).
#[allow(unsafe_code)]
fn default_sigpipe() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: called in main before the runtime is built, while no other
    // thread exists; SIG_DFL installs no Rust handler.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.cmd.runs_jobs() {
        default_sigpipe();
    }
    let dir = data_dir(cli.data_dir);
    let home = run::Home { memory: memory_file(cli.memory, &dir), data_dir: dir };
    // Servers disabled by hand, from any Mend process, are disabled in this one.
    mend_tools::mcp::servers().load_disabled(&home.data_dir);
    let config_path = cli.config.clone();
    let config = match run::config(cli.config.as_deref()).and_then(|mut c| cli.llm.apply(&mut c).map(|()| c)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            // Claude Code reads a hook's exit 2 as "block the call", and an
            // exit 1 lets the call run unjudged: a call about to run is
            // answered "ask" instead.
            return ExitCode::from(if matches!(cli.cmd, Cmd::Hook { .. }) { hook::config_broken(&e) } else { EXIT_BAD_INPUT });
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mend: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    let code = rt.block_on(async move {
        match cli.cmd {
            Cmd::Run { job, json, approve, quiet } => run::run_file(&home, &config, &job, run::Output { json, approve, quiet }).await,
            Cmd::Check { jobs } => run::check(&config, &jobs).await,
            Cmd::Demo { json, approve, workdir } => demo::demo(&home, &config, json, approve, workdir).await,
            Cmd::Daemon { jobs, approve, max_runs } => daemon::daemon(&home, &config, &jobs, approve, max_runs).await,
            Cmd::Logs(a) => query::exit(query::logs(&home.data_dir, a)),
            Cmd::Metrics(a) => query::exit(query::metrics(&home.data_dir, a)),
            Cmd::Runs { cmd: None, limit, json } => query::exit(query::runs(&home.data_dir, limit, json)),
            Cmd::Runs { cmd: Some(RunsCmd::Resume { run, json, approve }), .. } => {
                run::resume_run(&home, &config, &run, run::Output { json, approve, quiet: false }).await
            }
            Cmd::Runs { cmd: Some(RunsCmd::Close { run, note }), .. } => run::close_run(&home, &run, note.as_deref()).await,
            Cmd::Approvals { cmd } => match cmd {
                ApprovalsCmd::List { json } => query::exit(query::approvals_list(&home.data_dir, json)),
                ApprovalsCmd::Show { id } => query::exit(query::approval_show(&home.data_dir, &id)),
                ApprovalsCmd::Rules { json } => query::exit(query::rules(&home.data_dir, json)),
                ApprovalsCmd::Forget { id } => run::forget(&home, &id).await,
                ApprovalsCmd::Decide { id, option, note, no_resume, json, approve, remember } => {
                    let out = run::Output { json, approve, quiet: false };
                    run::decide(
                        &home,
                        &config,
                        run::DecideArgs { id: &id, option: &option, note, resume: !no_resume, remember: remember.map(Into::into) },
                        out,
                    )
                    .await
                }
            },
            Cmd::Memory(a) => query::exit(memory::memory(&home, a)),
            Cmd::Codes { markdown } => query::codes(markdown),
            Cmd::Tools { json } => {
                let servers = if json { mcp::tools_json(&config).await } else { Default::default() };
                query::tools(&home.data_dir, json, servers, &config)
            }
            Cmd::Safety { cmd } => safety::safety(&config, cmd),
            Cmd::Mcp { cmd } => mcp::mcp(&home, &config, cmd).await,
            Cmd::Hook { cmd } => hook::hook(&home, &config, config_path.as_deref(), cmd).await,
        }
    });
    // No MCP server this process started outlives it.
    rt.block_on(mend_tools::mcp::servers().shutdown());
    // A terminal prompt may still be blocked reading stdin: do not wait for it.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    ExitCode::from(code)
}
