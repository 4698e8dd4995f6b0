//! The user's config file: defaults every job starts from.
//!
//! `~/.config/mend/config.toml` (or `$MEND_CONFIG`, or `--config FILE`):
//!
//! ```toml
//! secrets = ["DEPLOY_TOKEN"]        # redacted in every job, on top of the job's own
//!
//! [safety]                          # added to every job's [safety]
//! destructive = ['\bpurge\b']
//! allow = []
//! delete_hosts = ["api.prod.example"]   # used when a job names none
//!
//! [approval]                        # for jobs that do not say
//! timeout = "30m"
//! on_timeout = "abort"
//!
//! [[llm]]                           # optional: the LLM layer's models, primary first
//! provider = "openai"               # or "anthropic"
//! base_url = "http://127.0.0.1:8080/v1"
//! model = "qwen2.5-7b-instruct"
//! api_key_env = "OPENAI_API_KEY"    # or api_key_file (not readable by others)
//! timeout = "30s"                   # connect_timeout = "5s", max_tokens = 800
//! ```
//!
//! A versioned contract like the job format; errors name file, line and field.

use serde::Deserialize;
use toml::Spanned;

use crate::approval::OnTimeout;
use crate::job::{JobError, JobErrors, line_col, parse_duration_ms};
use crate::safety::{Gate, SafetyConfig};

/// Defaults for every job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Environment variables whose values are secrets in every job.
    pub secrets: Vec<String>,
    /// Safety rules added to every job's.
    pub safety: SafetyConfig,
    /// Approval wait for jobs that set none.
    pub approval_timeout_ms: Option<u64>,
    /// What a timeout does, for jobs that set nothing.
    pub on_timeout: Option<OnTimeout>,
    /// The models the LLM layer may ask, primary first (none: no LLM layer).
    pub llm: Vec<LlmModel>,
    /// MCP servers every job can call (`[[mcp.servers]]`, issue 16).
    pub mcp_servers: Vec<crate::mcp::McpServer>,
    /// `mend mcp serve` (`[gateway]`, issue 17).
    pub gateway: GatewayConfig,
}

/// `[gateway]`: Mend as an MCP server in front of the configured servers
/// (issue 17).
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    /// Mend's own tools offered to agents besides the servers' (`exec`,
    /// `http`, `fs`, `read_logs`); none unless the config turns them on.
    pub own_tools: Vec<String>,
    /// How long a call waits for a person before it is answered with the
    /// pending request (its id, the diagnosis, the options), ms. Default
    /// 40 000: under the ~60 s many hosts give a tool call.
    pub approval_wait_ms: u64,
    /// How often a waiting call sends the caller a progress notification, ms
    /// (default 5 000).
    pub progress_every_ms: u64,
    /// The healing budget of one call (wall clock, excluding time waiting
    /// for a person), ms. Default 45 000, so a healed call still answers
    /// within a host's timeout.
    pub call_budget_ms: u64,
    /// Where `mend mcp serve --http` listens (loopback only); default
    /// `127.0.0.1:8765`.
    pub http: std::net::SocketAddr,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            own_tools: Vec::new(),
            approval_wait_ms: 40_000,
            progress_every_ms: 5_000,
            call_budget_ms: 45_000,
            http: std::net::SocketAddr::from(([127, 0, 0, 1], 8765)),
        }
    }
}

/// The tools `[gateway] own_tools` may name.
pub const GATEWAY_OWN_TOOLS: [&str; 4] = ["exec", "http", "fs", "read_logs"];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    #[serde(default)]
    own_tools: Vec<Spanned<String>>,
    approval_wait: Option<Spanned<String>>,
    progress_every: Option<Spanned<String>>,
    call_budget: Option<Spanned<String>>,
    http: Option<Spanned<String>>,
}

/// The wire format a model speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmProvider {
    /// OpenAI-compatible chat completions (OpenAI, Ollama, llama.cpp, vLLM, LM Studio).
    Openai,
    /// Anthropic messages.
    Anthropic,
}

/// One model of the `[[llm]]` chain.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmModel {
    /// Its name in the journal (default: the model).
    pub name: String,
    /// Its wire format.
    pub provider: LlmProvider,
    /// The API's base URL (`https://api.openai.com/v1`, `http://127.0.0.1:8080/v1`, `https://api.anthropic.com`).
    pub base_url: String,
    /// The model's id.
    pub model: String,
    /// The environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// A file holding the API key (must not be readable by others).
    pub api_key_file: Option<std::path::PathBuf>,
    /// Whole-request timeout.
    pub timeout_ms: u64,
    /// Connect timeout.
    pub connect_timeout_ms: u64,
    /// At most this many tokens in a reply.
    pub max_tokens: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLlm {
    name: Option<String>,
    provider: LlmProvider,
    base_url: String,
    model: String,
    api_key_env: Option<String>,
    api_key_file: Option<std::path::PathBuf>,
    timeout: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<String>>,
    max_tokens: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    safety: Option<Spanned<SafetyConfig>>,
    #[serde(default)]
    approval: RawApproval,
    #[serde(default)]
    llm: Vec<RawLlm>,
    #[serde(default)]
    mcp: crate::mcp::RawMcp,
    #[serde(default)]
    gateway: RawGateway,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    timeout: Option<Spanned<String>>,
    on_timeout: Option<OnTimeout>,
}

impl Config {
    /// Parses a config file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, JobErrors> {
        let err = |span: Option<std::ops::Range<usize>>, field: &str, message: String| {
            let (line, column) = span.map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            JobErrors(vec![JobError { file: file.to_owned(), line, column, field: field.to_owned(), message }])
        };
        let raw: Raw = toml::from_str(text).map_err(|e| err(e.span(), "", e.message().trim().to_owned()))?;
        let safety = match raw.safety {
            Some(s) => {
                Gate::new(s.get_ref()).map_err(|e| err(Some(s.span()), "safety", e))?;
                s.into_inner()
            }
            None => SafetyConfig::default(),
        };
        let approval_timeout_ms = match &raw.approval.timeout {
            Some(t) => Some(parse_duration_ms(t.get_ref()).map_err(|e| err(Some(t.span()), "approval.timeout", e))?),
            None => None,
        };
        let mut llm = Vec::new();
        for (i, m) in raw.llm.into_iter().enumerate() {
            let ms = |d: &Option<Spanned<String>>, field: &str, default: u64| match d {
                Some(t) => parse_duration_ms(t.get_ref()).map_err(|e| err(Some(t.span()), &format!("llm[{i}].{field}"), e)),
                None => Ok(default),
            };
            llm.push(LlmModel {
                name: m.name.unwrap_or_else(|| m.model.clone()),
                provider: m.provider,
                base_url: m.base_url.trim_end_matches('/').to_owned(),
                model: m.model,
                api_key_env: m.api_key_env,
                api_key_file: m.api_key_file,
                timeout_ms: ms(&m.timeout, "timeout", 60_000)?,
                connect_timeout_ms: ms(&m.connect_timeout, "connect_timeout", 5_000)?,
                max_tokens: m.max_tokens.unwrap_or(800),
            });
        }
        let (mcp_servers, problems) = raw.mcp.servers(&[]);
        if let Some((span, field, message)) = problems.into_iter().next() {
            return Err(err(Some(span), &field, message));
        }
        let mut gateway = GatewayConfig::default();
        let g = raw.gateway;
        for t in g.own_tools {
            if !GATEWAY_OWN_TOOLS.contains(&t.get_ref().as_str()) {
                return Err(err(
                    Some(t.span()),
                    "gateway.own_tools",
                    format!("`{}` is not one of Mend's tools: {}", t.get_ref(), GATEWAY_OWN_TOOLS.join(", ")),
                ));
            }
            gateway.own_tools.push(t.into_inner());
        }
        for (d, field, slot) in [
            (&g.approval_wait, "gateway.approval_wait", &mut gateway.approval_wait_ms),
            (&g.progress_every, "gateway.progress_every", &mut gateway.progress_every_ms),
            (&g.call_budget, "gateway.call_budget", &mut gateway.call_budget_ms),
        ] {
            if let Some(t) = d {
                *slot = parse_duration_ms(t.get_ref()).map_err(|e| err(Some(t.span()), field, e))?;
            }
        }
        if gateway.progress_every_ms == 0 {
            return Err(err(None, "gateway.progress_every", "must be more than 0".into()));
        }
        if let Some(h) = g.http {
            let addr: std::net::SocketAddr = h
                .get_ref()
                .parse()
                .map_err(|e| err(Some(h.span()), "gateway.http", format!("`{}`: {e} (write 127.0.0.1:PORT)", h.get_ref())))?;
            if !addr.ip().is_loopback() {
                return Err(err(
                    Some(h.span()),
                    "gateway.http",
                    format!("`{addr}` is not a loopback address: the gateway listens on this machine only"),
                ));
            }
            gateway.http = addr;
        }
        Ok(Config { secrets: raw.secrets, safety, approval_timeout_ms, on_timeout: raw.approval.on_timeout, llm, mcp_servers, gateway })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_parses_and_bad_ones_name_the_place() {
        let c = Config::parse(
            "secrets = [\"T\"]\n[safety]\ndestructive = ['purge']\n[approval]\ntimeout = \"30m\"\non_timeout = \"abort\"\n",
            "config.toml",
        )
        .unwrap();
        assert_eq!(c.secrets, vec!["T".to_owned()]);
        assert_eq!(c.safety.destructive, vec!["purge".to_owned()]);
        assert_eq!(c.approval_timeout_ms, Some(1_800_000));
        assert_eq!(c.on_timeout, Some(OnTimeout::Abort));
        let e = Config::parse("[approval]\ntimeout = \"soon\"\n", "c.toml").unwrap_err().0.remove(0);
        assert_eq!((e.line, e.field.as_str()), (2, "approval.timeout"));
        let e = Config::parse("\n\nsecretz = []\n", "c.toml").unwrap_err().0.remove(0);
        assert_eq!(e.line, 3);
        let e = Config::parse("[safety]\nallow = ['(']\n", "c.toml").unwrap_err().0.remove(0);
        assert_eq!(e.field, "safety");
        assert_eq!(Config::parse("", "c.toml").unwrap(), Config::default());
        let g = Config::parse("[gateway]\nown_tools = [\"read_logs\"]\napproval_wait = \"20s\"\nhttp = \"127.0.0.1:9000\"\n", "c.toml")
            .unwrap()
            .gateway;
        assert_eq!((g.own_tools, g.approval_wait_ms, g.http.port()), (vec!["read_logs".to_owned()], 20_000, 9000));
        let e = Config::parse("[gateway]\nown_tools = [\"rm\"]\n", "c.toml").unwrap_err().0.remove(0);
        assert_eq!((e.line, e.field.as_str()), (2, "gateway.own_tools"));
        let e = Config::parse("[gateway]\nhttp = \"0.0.0.0:80\"\n", "c.toml").unwrap_err().0.remove(0);
        assert!(e.message.contains("loopback"), "{}", e.message);
        let c = Config::parse(
            "[[llm]]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:8080/v1/\"\nmodel = \"smollm2\"\ntimeout = \"20s\"\n[[llm]]\nname = \"claude\"\nprovider = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\nmodel = \"claude-x\"\napi_key_env = \"ANTHROPIC_API_KEY\"\n",
            "c.toml",
        )
        .unwrap();
        assert_eq!(c.llm.len(), 2);
        assert_eq!(
            (c.llm[0].name.as_str(), c.llm[0].base_url.as_str(), c.llm[0].timeout_ms),
            ("smollm2", "http://127.0.0.1:8080/v1", 20_000)
        );
        assert_eq!(c.llm[1].provider, LlmProvider::Anthropic);
        let e = Config::parse("[[llm]]\nprovider = \"openai\"\nbase_url = \"x\"\nmodel = \"m\"\ntimeout = \"soon\"\n", "c.toml")
            .unwrap_err()
            .0
            .remove(0);
        assert_eq!((e.line, e.field.as_str()), (5, "llm[0].timeout"));
        let e = Config::parse("[[llm]]\nprovider = \"gemini\"\n", "c.toml").unwrap_err().0.remove(0);
        assert_eq!(e.line, 2);
    }
}
