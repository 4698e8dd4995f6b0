//! The safety policy: which calls are destructive and need a person's
//! approval *before* they run, whatever proposed them.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::tool::Effect;

/// The built-in destructive patterns, matched case-insensitively against the
/// call's rendered form (`exec`: the command line; `http`: `METHOD URL`).
pub const DEFAULT_PATTERNS: &[(&str, &str)] = &[
    ("rm -r", r"(^|[\s;&|(])rm\s+(-[a-z]*[rR][a-z]*\b|--recursive\b)"),
    ("dropdb", r"(^|[\s;&|(/])dropdb\b"),
    ("DROP TABLE/DATABASE/SCHEMA", r"\bdrop\s+(table|database|schema)\b"),
    ("TRUNCATE", r"\btruncate\s+(table\s+)?\w"),
    ("DELETE FROM", r"\bdelete\s+from\b"),
    ("git push --force", r"\bgit\b.*\bpush\b.*(\s--force\b|\s-f\b|\s--force-with-lease\b|\s\+\S)"),
    ("git reset --hard", r"\bgit\b.*\breset\b.*--hard\b"),
    ("git clean -f", r"\bgit\b.*\bclean\b.*\s-[a-z]*f"),
    ("kubectl delete", r"\bkubectl\b.*\bdelete\b"),
    ("helm uninstall", r"\bhelm\b.*\b(uninstall|delete)\b"),
    ("terraform destroy", r"\bterraform\b.*\bdestroy\b"),
    ("mkfs", r"(^|[\s;&|(/])mkfs(\.\w+)?\b"),
    ("dd to a device", r"\bdd\b.*\bof=/dev/"),
    ("shred", r"(^|[\s;&|(/])shred\b"),
    ("docker prune", r"\bdocker\b.*\bprune\b"),
];

/// A safety policy as written in a job file's `[safety]` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyConfig {
    /// More destructive patterns (regular expressions, case-insensitive).
    #[serde(default)]
    pub destructive: Vec<String>,
    /// Patterns that are *not* destructive even though a built-in matches
    /// (e.g. `rm -rf ./build`). Checked after the destructive ones.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Hosts where an HTTP DELETE is destructive; `*` means every host.
    /// Defaults to every host.
    #[serde(default)]
    pub delete_hosts: Option<Vec<String>>,
}

/// Why a call needs approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Danger {
    /// The name of the pattern or rule that matched.
    pub rule: String,
}

/// The compiled safety policy.
#[derive(Debug, Clone)]
pub struct SafetyPolicy {
    patterns: Vec<(String, Regex)>,
    allow: Vec<Regex>,
    delete_hosts: Vec<String>,
}

impl Default for SafetyPolicy {
    fn default() -> Self {
        SafetyPolicy::new(&SafetyConfig::default()).expect("built-in patterns compile")
    }
}

/// The built-in patterns, compiled once per process (a `Regex` clone is cheap).
static BUILT_IN: LazyLock<Vec<(String, Regex)>> = LazyLock::new(|| {
    DEFAULT_PATTERNS.iter().map(|(name, p)| ((*name).to_owned(), compile(p).expect("built-in safety pattern compiles"))).collect()
});

fn compile(p: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(p).case_insensitive(true).size_limit(1 << 20).build().map_err(|e| format!("bad pattern `{p}`: {e}"))
}

impl SafetyPolicy {
    /// Compiles the built-in patterns plus a job's own.
    pub fn new(cfg: &SafetyConfig) -> Result<Self, String> {
        let mut patterns = BUILT_IN.clone();
        for p in &cfg.destructive {
            patterns.push((p.clone(), compile(p)?));
        }
        let allow = cfg.allow.iter().map(|p| compile(p)).collect::<Result<_, _>>()?;
        let delete_hosts = cfg.delete_hosts.clone().unwrap_or_else(|| vec!["*".to_owned()]);
        Ok(SafetyPolicy { patterns, allow, delete_hosts })
    }

    /// Whether a call needs approval before it runs, and why.
    pub fn check(&self, tool: &str, rendered: &str, effect: Effect) -> Option<Danger> {
        if self.allow.iter().any(|r| r.is_match(rendered)) {
            return None;
        }
        if effect == Effect::Destructive {
            return Some(Danger { rule: format!("{tool} marks this call destructive") });
        }
        if let Some(rest) = rendered.strip_prefix("DELETE ") {
            let host = host_of(rest);
            if self.delete_hosts.iter().any(|h| h == "*" || h.eq_ignore_ascii_case(host)) {
                return Some(Danger { rule: format!("HTTP DELETE to {host}") });
            }
        }
        self.patterns.iter().find(|(_, r)| r.is_match(rendered)).map(|(name, _)| Danger { rule: name.clone() })
    }
}

fn host_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    if host_port.starts_with('[') {
        host_port.split(']').next().map(|h| h.trim_start_matches('[')).unwrap_or(host_port)
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destructive_commands_are_caught_and_harmless_ones_are_not() {
        let p = SafetyPolicy::default();
        let bad = [
            "rm -rf /tmp/x",
            "sh -c cd /srv && rm -fr data",
            "rm --recursive old",
            "dropdb production_customers",
            "psql -c DROP TABLE users",
            "psql -c 'truncate table events'",
            "git push --force origin main",
            "git push -f",
            "git push origin +main",
            "kubectl -n prod delete deployment api",
            "terraform destroy -auto-approve",
            "dd if=/dev/zero of=/dev/sda",
            "mkfs.ext4 /dev/sdb1",
        ];
        for c in bad {
            assert!(p.check("exec", c, Effect::Mutating).is_some(), "{c} should need approval");
        }
        let fine = ["rm file.txt", "ls -la", "git push origin main", "kubectl get pods", "echo dropdbx", "grep -r x ."];
        for c in fine {
            assert!(p.check("exec", c, Effect::Mutating).is_none(), "{c} should run freely");
        }
    }

    #[test]
    fn allow_list_and_delete_hosts_are_honoured() {
        let cfg = SafetyConfig {
            destructive: vec![r"\bpurge\b".into()],
            allow: vec![r"rm -rf \./build\b".into()],
            delete_hosts: Some(vec!["api.prod.example".into()]),
        };
        let p = SafetyPolicy::new(&cfg).unwrap();
        assert!(p.check("exec", "rm -rf ./build", Effect::Mutating).is_none());
        assert!(p.check("exec", "cache purge all", Effect::Mutating).is_some());
        assert!(p.check("http", "DELETE https://api.prod.example:8443/v1/x", Effect::Mutating).is_some());
        assert!(p.check("http", "DELETE http://127.0.0.1:9/x", Effect::Mutating).is_none());
        assert!(p.check("fs", "remove /x", Effect::Destructive).is_some());
        assert!(SafetyPolicy::new(&SafetyConfig { destructive: vec!["(".into()], ..Default::default() }).is_err());
    }
}
