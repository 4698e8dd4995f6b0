//! MCP servers as the config and jobs declare them (issue 16):
//! `[[mcp.servers]]`, each a child process speaking MCP over stdio or a
//! streamable-HTTP endpoint, with a startup timeout, a call timeout and an
//! optional backup server. Parsing only; the client and its supervision
//! live in `mend_tools::mcp`.
//!
//! ```toml
//! [[mcp.servers]]
//! name = "files"
//! command = "npx"
//! args = ["@modelcontextprotocol/server-filesystem", "/data"]
//! env = { LOG_LEVEL = "warn" }
//! startup_timeout = "10s"        # default 10 s
//! call_timeout = "60s"           # default 60 s
//! backup = "files-mirror"
//!
//! [[mcp.servers]]
//! name = "remote"
//! url = "https://mcp.example/mcp"
//! headers = { Authorization = "MCP_TOKEN" }   # header → the env var holding its value (a secret)
//! ```

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

/// Default time to start a server and finish `initialize`, ms.
pub const DEFAULT_STARTUP_TIMEOUT_MS: u64 = 10_000;
/// Default time for one `tools/call`, ms.
pub const DEFAULT_CALL_TIMEOUT_MS: u64 = 60_000;

/// How Mend reaches a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpTransport {
    /// A child process speaking JSON-RPC over its stdin and stdout (MCP
    /// spec, "stdio" transport).
    Stdio {
        /// The program.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Extra environment (values may use `${env:NAME}`).
        env: Vec<(String, String)>,
        /// Its working directory (relative: to the file that declared it).
        cwd: Option<PathBuf>,
    },
    /// A streamable-HTTP endpoint (MCP spec, "Streamable HTTP").
    Http {
        /// The endpoint URL.
        url: String,
        /// Headers, name → value: the value is the name of the environment
        /// variable holding it (`Authorization = "MCP_TOKEN"`), or text with
        /// `${env:NAME}` in it; either way the variables' values are secrets
        /// of every run that may call the server, redacted everywhere
        /// ([`McpServer::secret_vars`]).
        headers: Vec<(String, String)>,
    },
}

impl McpServer {
    /// The environment variables whose values its headers carry (a bare
    /// variable name, or each `${env:NAME}` in the text): secrets, redacted
    /// like a job's `secrets`.
    pub fn secret_vars(&self) -> Vec<String> {
        let McpTransport::Http { headers, .. } = &self.transport else { return Vec::new() };
        let mut out = Vec::new();
        for (_, v) in headers {
            let bare = !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if bare {
                out.push(v.clone());
            }
            let mut rest = v.as_str();
            while let Some(i) = rest.find("${env:") {
                let after = &rest[i + 6..];
                let Some(end) = after.find('}') else { break };
                out.push(after[..end].to_owned());
                rest = &after[end..];
            }
        }
        out
    }
}

/// One MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServer {
    /// Its name: steps say `args = { server = "NAME", … }`.
    pub name: String,
    /// How to reach it.
    pub transport: McpTransport,
    /// Time to start and initialize, ms.
    pub startup_timeout_ms: u64,
    /// Time for one call, ms (a step's `timeout_ms` overrides it).
    pub call_timeout_ms: u64,
    /// The server a call falls over to when this one cannot be reached.
    pub backup: Option<String>,
}

/// `[[mcp.servers]]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMcp {
    #[serde(default)]
    pub(crate) servers: Vec<Spanned<RawServer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    name: Spanned<String>,
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    cwd: Option<PathBuf>,
    url: Option<String>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    startup_timeout: Option<Spanned<crate::job::DurationText>>,
    call_timeout: Option<Spanned<crate::job::DurationText>>,
    backup: Option<Spanned<String>>,
}

/// A problem in `[[mcp.servers]]`: where (a byte range of the file) and
/// which field (`mcp.servers[i].url`), and what.
pub(crate) type Problem = (std::ops::Range<usize>, String, String);

impl RawMcp {
    /// The servers, checked: one transport each, names unique, backups
    /// declared (among `known` too: the config's servers, for a job).
    pub(crate) fn servers(&self, known: &[McpServer]) -> (Vec<McpServer>, Vec<Problem>) {
        let mut out: Vec<McpServer> = Vec::new();
        let mut problems = Vec::new();
        for (i, s) in self.servers.iter().enumerate() {
            let span = s.span();
            let s = s.get_ref();
            let field = |f: &str| format!("mcp.servers[{i}].{f}");
            let name = s.name.get_ref().trim().to_owned();
            if name.is_empty() {
                problems.push((s.name.span(), field("name"), "a server needs a name".to_owned()));
            } else if out.iter().any(|o| o.name == name) {
                problems.push((s.name.span(), field("name"), format!("two servers are named `{name}`")));
            }
            let transport = match (&s.command, &s.url) {
                (Some(c), None) => McpTransport::Stdio {
                    command: c.clone(),
                    args: s.args.clone(),
                    env: s.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    cwd: s.cwd.clone(),
                },
                (None, Some(u)) if u.starts_with("http://") || u.starts_with("https://") => {
                    McpTransport::Http { url: u.clone(), headers: s.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect() }
                }
                (None, Some(u)) => {
                    problems.push((span.clone(), field("url"), format!("`{u}` is not an http(s) URL")));
                    continue;
                }
                _ => {
                    problems.push((span.clone(), field("command"), "give either `command` (stdio) or `url` (streamable HTTP)".to_owned()));
                    continue;
                }
            };
            // A duration as text (`"10s"`) or whole ms (`10000`); never 0.
            let ms = |d: &Option<Spanned<crate::job::DurationText>>, f: &str, default: u64, problems: &mut Vec<Problem>| match d {
                Some(t) => match t.get_ref().ms() {
                    Ok(0) => {
                        problems.push((t.span(), field(f), "must be more than 0".to_owned()));
                        default
                    }
                    Ok(n) => n,
                    Err(e) => {
                        problems.push((t.span(), field(f), e));
                        default
                    }
                },
                None => default,
            };
            let startup_timeout_ms = ms(&s.startup_timeout, "startup_timeout", DEFAULT_STARTUP_TIMEOUT_MS, &mut problems);
            let call_timeout_ms = ms(&s.call_timeout, "call_timeout", DEFAULT_CALL_TIMEOUT_MS, &mut problems);
            out.push(McpServer {
                name,
                transport,
                startup_timeout_ms,
                call_timeout_ms,
                backup: s.backup.as_ref().map(|b| b.get_ref().clone()),
            });
        }
        for (i, s) in self.servers.iter().enumerate() {
            if let Some(b) = &s.get_ref().backup {
                let b_name = b.get_ref();
                let own = s.get_ref().name.get_ref().trim();
                if b_name == own {
                    problems.push((b.span(), format!("mcp.servers[{i}].backup"), "a server cannot be its own backup".to_owned()));
                } else if !out.iter().chain(known).any(|o| o.name == *b_name) {
                    problems.push((b.span(), format!("mcp.servers[{i}].backup"), format!("no server is named `{b_name}`")));
                }
            }
        }
        (out, problems)
    }
}

/// `base` with `extra` laid over it by name (a job's server replaces the
/// config's server of the same name).
pub fn merged(base: &[McpServer], extra: &[McpServer]) -> Vec<McpServer> {
    let mut out: Vec<McpServer> = base.iter().filter(|b| !extra.iter().any(|e| e.name == b.name)).cloned().collect();
    out.extend(extra.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variables_a_servers_headers_carry_are_its_secrets() {
        let s = McpServer {
            name: "api".into(),
            transport: McpTransport::Http {
                url: "https://mcp.example/mcp".into(),
                headers: vec![
                    ("Authorization".into(), "MCP_TOKEN".into()),
                    ("X-Both".into(), "Bearer ${env:A_KEY}; team=${env:TEAM_ID}".into()),
                    ("X-Plain".into(), "text with spaces".into()),
                ],
            },
            startup_timeout_ms: 1,
            call_timeout_ms: 1,
            backup: None,
        };
        assert_eq!(s.secret_vars(), ["MCP_TOKEN", "A_KEY", "TEAM_ID"]);
        let stdio = McpServer { transport: McpTransport::Stdio { command: "x".into(), args: vec![], env: vec![], cwd: None }, ..s };
        assert!(stdio.secret_vars().is_empty());
    }
}
