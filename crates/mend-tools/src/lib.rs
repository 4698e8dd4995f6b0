//! Real tools for Mend. Each runs the real thing (a child process, an HTTP
//! request, the file system) and maps every real failure to a stable
//! [`ErrorCode`](mend_core::ErrorCode) at the tool layer, so the loop never
//! parses prose.
//!
//! - [`exec::ExecTool`]: programs and shell scripts, with timeouts that kill
//!   the whole process group.
//! - [`http::HttpTool`]: HTTP requests, including errors hidden in a 200.
//! - [`fs::FsTool`]: read (ranges), atomic write, edit, list, find, mkdir, remove.
//! - [`mcp::McpTool`]: a tool of an MCP server, its server kept alive (issue 16).

use std::sync::Arc;

use mend_core::tool::ToolRegistry;

pub mod exec;
pub mod fs;
pub mod http;
pub mod mcp;

/// The strict safety level's view of the file system (issue 11): the gate
/// runs just before a call, so it can ask whether the file a command would
/// replace exists. An unreadable path counts as existing.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsProbe;

impl mend_core::safety::Probe for FsProbe {
    fn exists(&self, path: &std::path::Path) -> bool {
        match std::fs::symlink_metadata(path) {
            Ok(_) => true,
            Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        }
    }

    fn is_dir(&self, path: &std::path::Path) -> bool {
        path.is_dir()
    }
}

/// A registry with every built-in tool.
pub fn default_registry() -> ToolRegistry {
    let mut r = ToolRegistry::new();
    // The built-in schemas are tested to compile; registration cannot fail.
    for t in
        [Arc::new(exec::ExecTool) as _, Arc::new(http::HttpTool::default()) as _, Arc::new(fs::FsTool) as _, Arc::new(mcp::McpTool) as _]
    {
        r.register(t).expect("built-in tool registers");
    }
    r
}

/// The repair for a `TIMEOUT`: the same call with `timeout_ms` doubled
/// (from `default_ms` when unset), up to `max_ms`; nothing past that.
pub(crate) fn longer_timeout(
    args: &serde_json::Value,
    error: &mend_core::ToolError,
    default_ms: u64,
    max_ms: u64,
) -> Vec<mend_core::tool::Repair> {
    if error.code != mend_core::ErrorCode::TIMEOUT {
        return vec![];
    }
    let now = args.get("timeout_ms").and_then(serde_json::Value::as_u64).unwrap_or(default_ms);
    if now >= max_ms {
        return vec![];
    }
    let longer = (now * 2).min(max_ms);
    let mut a = args.clone();
    a["timeout_ms"] = serde_json::json!(longer);
    vec![mend_core::tool::Repair { args: a, reason: format!("give it a longer timeout ({now} → {longer} ms)") }]
}

/// Milliseconds of a duration since `t0`.
pub(crate) fn ms_since(t0: std::time::Instant) -> u64 {
    t0.elapsed().as_millis() as u64
}

/// The last `n` characters of a string (on a char boundary).
pub(crate) fn tail(s: &str, n: usize) -> String {
    let count = s.chars().count();
    if count <= n { s.to_owned() } else { s.chars().skip(count - n).collect() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_registry_has_every_tool() {
        let r = super::default_registry();
        assert_eq!(r.names(), vec!["exec", "fs", "http", "mcp"]);
    }
}
