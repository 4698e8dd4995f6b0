//! The names agents call: `SERVER__TOOL` for a configured server's tool,
//! `mend__TOOL` for Mend's own (issue 17). Hosts accept tool names matching
//! `^[a-zA-Z0-9_-]{1,64}$` (Claude, OpenAI and Gemini tool-use APIs), and
//! the host puts its own prefix in front (`mcp__mend__` in Claude Code), so
//! a name is kept to [`MAX_LEN`] characters: longer ones are cut and given
//! a short digest, other characters become `_`.

/// The longest name given, in characters: 64 less the room a host's own
/// prefix takes (`mcp__mend__`, 11).
pub const MAX_LEN: usize = 52;

/// The server name Mend's own tools are under (`mend__read_logs`).
pub const OWN: &str = "mend";

/// What a name calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A tool of a configured MCP server (`[[mcp.servers]]`).
    Upstream {
        /// The server's name.
        server: String,
        /// The tool's name, as the server lists it.
        tool: String,
    },
    /// One of Mend's own tools (`[gateway] own_tools`).
    Own(String),
}

fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// FNV-1a, 32 bits, as 8 hex digits: a short, stable digest for cut names.
fn digest(s: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// The name agents call `tool` of `server` by: `server__tool`, cleaned to
/// `[A-Za-z0-9_-]`, at most [`MAX_LEN`] characters (a cut name ends with
/// `_` and 8 hex digits of the whole name's digest, so two long names do
/// not meet).
pub fn namespaced(server: &str, tool: &str) -> String {
    let full = format!("{}__{}", clean(server), clean(tool));
    if full.len() <= MAX_LEN {
        return full;
    }
    let keep = MAX_LEN - 9;
    format!("{}_{}", &full[..keep], digest(&format!("{server}\u{0}{tool}")))
}

/// [`namespaced`], unless `taken` says another tool has that name
/// already (`a` + `b__x` and `a__b` + `x` both clean to `a__b__x`): then
/// the name with a digest of this server and tool, so neither shadows the
/// other.
pub fn distinct(server: &str, tool: &str, taken: impl Fn(&str) -> bool) -> String {
    let name = namespaced(server, tool);
    if !taken(&name) {
        return name;
    }
    let keep = name.len().min(MAX_LEN - 9);
    format!("{}_{}", &name[..keep], digest(&format!("{server}\u{0}{tool}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_tools_that_clean_to_one_name_get_two() {
        let first = distinct("a", "b__wipe", |_| false);
        let second = distinct("a__b", "wipe", |n| n == first);
        assert_eq!(first, "a__b__wipe");
        assert_ne!(second, first);
        assert!(second.starts_with("a__b__wipe_") && second.len() <= MAX_LEN, "{second}");
    }

    #[test]
    fn names_are_what_hosts_accept_and_distinct() {
        assert_eq!(namespaced("files", "read_text_file"), "files__read_text_file");
        assert_eq!(namespaced("my.server", "get sum"), "my_server__get_sum");
        let a = namespaced("a-very-long-server-name-for-testing", "an_even_longer_tool_name_that_goes_on_1");
        let b = namespaced("a-very-long-server-name-for-testing", "an_even_longer_tool_name_that_goes_on_2");
        assert_ne!(a, b);
        for n in [&a, &b] {
            assert!(n.len() <= MAX_LEN, "{n}");
            assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{n}");
        }
    }
}
