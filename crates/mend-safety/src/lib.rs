//! The safety gate's reading of a call (issue 11): what a call would do,
//! understood rather than matched.
//!
//! An `exec` call — a `/bin/sh` script or a program with its arguments — is
//! parsed with a real shell parser ([`brush_parser`]) into the simple
//! commands it would run (through `&&`, `||`, `;`, `|`, subshells, groups,
//! loops, functions, here-documents and command substitutions). Each simple
//! command's program is normalised (`/usr/bin/rm`, `\rm`, `'rm'` are `rm`),
//! wrappers are unwrapped (`sh -c`, `env`, `sudo`, `timeout`, `xargs`,
//! `find -exec`, `ssh HOST CMD`, `watch` …) and what they run is classified
//! by meaning from the rules table ([`RULES`], also `mend safety rules`):
//! flags in any order and spelling, SQL read by a SQL parser, hosts
//! compared after normalisation. What cannot be understood before it runs
//! (`$X -rf d`, `eval`, a parse error, a script piped in from a command)
//! asks too, naming why. HTTP `DELETE`, `fs remove` and any call a tool
//! itself marks destructive are findings as well.
//!
//! [`Gate::check`] returns every destructive part of a call; allow rules
//! ([`SafetyConfig::allow`]) apply to one simple command at a time, so a
//! chain runs unasked only if every destructive part in it is allowed.
//!
//! This crate has no I/O: the strict level's "does this file exist?" goes
//! through the [`Probe`] trait, which the caller implements.

mod host;
mod rules;
mod shell;
mod sql;
mod table;

use std::ops::Range;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::{Deserialize, Serialize};

pub use host::{Destination, destination, normalise_host};
pub use table::{RULES, RuleDoc, rules_markdown};

/// How much the gate asks about (`[safety] level`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Recursive or bulk deletion, destruction, history rewrites, database
    /// and infrastructure teardown, recursive permission changes, HTTP
    /// DELETE, `fs remove`, and whatever cannot be understood.
    #[default]
    Standard,
    /// Also any single-file deletion and any overwrite of an existing file
    /// (`mv`/`cp`/`ln -f`/`>`/`tee`/`truncate`/`dd of=`, `fs write` with
    /// `overwrite`).
    Strict,
}

/// A safety policy as written in a job file's or the config's `[safety]`
/// table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyConfig {
    /// `standard` (the default) or `strict`.
    #[serde(default)]
    pub level: Level,
    /// More destructive patterns: regular expressions (case-insensitive),
    /// matched against each simple command's normalised form (and the
    /// rendered form of non-`exec` calls).
    #[serde(default)]
    pub destructive: Vec<String>,
    /// Simple commands that may run unasked although a rule matches:
    /// regular expressions (case-insensitive) that must match the *whole*
    /// normalised simple command (`rm -rf \./build` allows `rm -rf ./build`,
    /// not `rm -rf ./build /`). Checked per simple command, never for a
    /// whole chain.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Hosts where an HTTP DELETE asks (`*` means every host), compared
    /// after normalisation ([`normalise_host`]). Defaults to every host.
    #[serde(default)]
    pub delete_hosts: Option<Vec<String>>,
}

/// The kind of harm a finding is about; the categories of the rules table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Recursive or bulk deletion (`rm -r`, `find -delete`, `git clean -f`).
    BulkDeletion,
    /// Destruction of devices or data beyond recovery (`shred`, `mkfs`).
    Destruction,
    /// Rewriting or discarding version-control history.
    HistoryRewrite,
    /// Dropping, truncating or blanket-changing database contents.
    Database,
    /// Tearing down infrastructure (clusters, stacks, containers, buckets).
    Infrastructure,
    /// Recursive permission or ownership changes.
    Permissions,
    /// An HTTP DELETE to a listed host.
    HttpDelete,
    /// The `fs` tool's `remove`.
    FsRemove,
    /// Strict level: deleting or overwriting one existing file.
    Overwrite,
    /// A tool marks the call destructive (its own judgement).
    Tool,
    /// A job's or config's own `destructive` pattern.
    Custom,
    /// A healing proposal that sends a secret somewhere new.
    SecretDestination,
    /// What cannot be understood before it runs.
    Unknown,
}

impl Category {
    /// The snake_case name used in the journal and the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::BulkDeletion => "bulk_deletion",
            Category::Destruction => "destruction",
            Category::HistoryRewrite => "history_rewrite",
            Category::Database => "database",
            Category::Infrastructure => "infrastructure",
            Category::Permissions => "permissions",
            Category::HttpDelete => "http_delete",
            Category::FsRemove => "fs_remove",
            Category::Overwrite => "overwrite",
            Category::Tool => "tool",
            Category::Custom => "custom",
            Category::SecretDestination => "secret_destination",
            Category::Unknown => "unknown",
        }
    }
}

/// One destructive (or unreadable) part of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The kind of harm.
    pub category: Category,
    /// The rule that matched: a name from [`RULES`] (`rm -r`), or a job's
    /// own pattern.
    pub rule: String,
    /// The simple command that matched, normalised (`rm -r -f precious`):
    /// what allow rules are matched against.
    pub command: String,
    /// One sentence for a person: what it would do, or why it cannot be
    /// told.
    pub why: String,
    /// Byte range in the checked text (the call as rendered) to highlight:
    /// the outermost simple command the finding came from. `None` when it
    /// cannot be placed.
    pub span: Option<(usize, usize)>,
}

/// What a call would do, in the form the gate reads. Tools describe their
/// calls this way (`Tool::intent` in mend-core).
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// A program run directly (`argv[0]` first, no shell), or a script run
    /// by `/bin/sh -c`.
    Exec {
        /// The program and its arguments, when no shell is involved.
        argv: Option<Vec<String>>,
        /// The `/bin/sh -c` script, when one is.
        script: Option<String>,
        /// Text given on standard input (a shell reads it as a script).
        stdin: Option<String>,
        /// Working directory (relative paths resolve against it).
        cwd: Option<PathBuf>,
        /// Variables the call sets on top of (or, with `clear_env`,
        /// instead of) the inherited environment.
        env: Vec<(String, String)>,
        /// The child starts from an empty environment.
        clear_env: bool,
    },
    /// An HTTP request.
    Http {
        /// The method, as sent.
        method: String,
        /// The URL.
        url: String,
    },
    /// A file-system operation of the `fs` tool.
    Fs {
        /// `read`, `write`, `edit`, `list`, `find`, `mkdir`, `remove`.
        op: String,
        /// The path, resolved against the job's folder.
        path: PathBuf,
        /// `write` replaces an existing file.
        overwrite: bool,
    },
    /// A call the gate cannot read; only the tool's own effect counts.
    Opaque,
}

/// Looks at the file system for the strict level (the caller's; this crate
/// has no I/O).
pub trait Probe: Send + Sync {
    /// Whether `path` exists (any kind of file). On doubt, `true`.
    fn exists(&self, path: &Path) -> bool;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
}

/// The gate's answer for one call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// Destructive parts no allow rule covers: each needs a person. Empty
    /// means the call may run unasked.
    pub asks: Vec<Finding>,
    /// Destructive parts an allow rule covers, with the rule.
    pub allowed: Vec<(Finding, String)>,
}

impl Verdict {
    /// The first finding that needs a person.
    pub fn first(&self) -> Option<&Finding> {
        self.asks.first()
    }
}

/// The compiled safety policy: built-in rules, a job's own patterns, allow
/// rules and DELETE hosts.
#[derive(Debug, Clone)]
pub struct Gate {
    level: Level,
    custom: Vec<(String, Regex)>,
    allow: Vec<(String, Regex)>,
    delete_hosts: Vec<String>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate { level: Level::Standard, custom: Vec::new(), allow: Vec::new(), delete_hosts: vec!["*".into()] }
    }
}

fn compile(p: &str, anchored: bool) -> Result<Regex, String> {
    let src = if anchored { format!("^(?:{p})$") } else { p.to_owned() };
    regex::RegexBuilder::new(&src).case_insensitive(true).size_limit(1 << 20).build().map_err(|e| format!("bad pattern `{p}`: {e}"))
}

/// Inputs of one check besides the call.
pub struct Context<'a> {
    /// The environment the call inherits (`$NAME` in a script resolves
    /// from it unless the script sets `NAME`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The file system, for the strict level; `None` means "assume it
    /// exists".
    pub probe: Option<&'a dyn Probe>,
}

impl Gate {
    /// Compiles a policy. Errors name the pattern that does not compile.
    pub fn new(cfg: &SafetyConfig) -> Result<Self, String> {
        let custom = cfg.destructive.iter().map(|p| Ok((p.clone(), compile(p, false)?))).collect::<Result<_, String>>()?;
        let allow = cfg.allow.iter().map(|p| Ok((p.clone(), compile(p, true)?))).collect::<Result<_, String>>()?;
        let delete_hosts = cfg.delete_hosts.clone().unwrap_or_else(|| vec!["*".to_owned()]).iter().map(|h| normalise_host(h)).collect();
        Ok(Gate { level: cfg.level, custom, allow, delete_hosts })
    }

    /// The level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Whether an HTTP DELETE to this URL asks (`delete_hosts`, hosts
    /// normalised; an unreadable URL asks).
    pub fn delete_asks(&self, url: &str) -> bool {
        if self.delete_hosts.iter().any(|h| h == "*") {
            return true;
        }
        match destination(url) {
            Some(d) => self.delete_hosts.contains(&d.host),
            None => true,
        }
    }

    /// Every destructive part of a call. `rendered` is the call as shown to
    /// people (spans point into it; job patterns of non-exec calls match
    /// it); `destructive` is the tool's own judgement of the call.
    pub fn check(&self, intent: &Intent, rendered: &str, destructive: bool, cx: &Context<'_>) -> Verdict {
        let mut found = Vec::new();
        match intent {
            Intent::Exec { argv, script, stdin, cwd, env, clear_env } => {
                let lookup = |name: &str| -> Option<String> {
                    env.iter()
                        .rev()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                        .or_else(|| if *clear_env { None } else { (cx.env)(name) })
                };
                let mut c = rules::Classifier::new(self, &lookup, cx.probe, cwd.as_deref());
                c.call_env(env, rendered.len());
                match (script, argv) {
                    (Some(s), _) => c.script(s, None, stdin.as_deref()),
                    (None, Some(a)) => c.argv_call(a, rendered.len(), stdin.as_deref()),
                    (None, None) => {}
                }
                found = c.finish();
            }
            Intent::Http { method, url } => {
                if method.eq_ignore_ascii_case("DELETE") && self.delete_asks(url) {
                    let host = destination(url).map(|d| d.host).unwrap_or_else(|| url.clone());
                    found.push(Finding {
                        category: Category::HttpDelete,
                        rule: "HTTP DELETE".into(),
                        command: rendered.to_owned(),
                        why: format!("an HTTP DELETE to {host}"),
                        span: Some((0, rendered.len())),
                    });
                }
                self.custom_on(rendered, &mut found);
            }
            Intent::Fs { op, path, overwrite } => {
                // A write or edit to a device (`/dev/sda`) destroys what is on
                // it, at every level, as `dd of=/dev/sda` does (red team).
                let device = path.starts_with("/dev") && !path.starts_with("/dev/null") && !path.starts_with("/dev/std");
                if device && op != "read" && op != "list" && op != "find" {
                    found.push(Finding {
                        category: Category::Destruction,
                        rule: "write to a device".into(),
                        command: rendered.to_owned(),
                        why: format!("writes to the device {}", path.display()),
                        span: Some((0, rendered.len())),
                    });
                } else if op == "remove" {
                    found.push(Finding {
                        category: Category::FsRemove,
                        rule: "fs remove".into(),
                        command: rendered.to_owned(),
                        why: format!("removes {}", path.display()),
                        span: Some((0, rendered.len())),
                    });
                } else if op == "write" && *overwrite && self.level == Level::Strict && cx.probe.is_none_or(|p| p.exists(path)) {
                    found.push(Finding {
                        category: Category::Overwrite,
                        rule: "overwrite a file".into(),
                        command: rendered.to_owned(),
                        why: format!("replaces the existing file {}", path.display()),
                        span: Some((0, rendered.len())),
                    });
                }
                self.custom_on(rendered, &mut found);
            }
            Intent::Opaque => self.custom_on(rendered, &mut found),
        }
        if destructive && found.is_empty() {
            found.push(Finding {
                category: Category::Tool,
                rule: "tool marks it destructive".into(),
                command: rendered.to_owned(),
                why: "the tool itself marks this call destructive".into(),
                span: Some((0, rendered.len())),
            });
        }
        let mut v = Verdict::default();
        for f in found {
            match self.allow.iter().find(|(_, r)| r.is_match(&f.command)) {
                // A tool's own judgement and a secret's destination are not the job's to waive by pattern.
                Some((p, _)) if !matches!(f.category, Category::SecretDestination) => v.allowed.push((f, p.clone())),
                _ => v.asks.push(f),
            }
        }
        v
    }

    /// The job's own patterns against a rendered (non-exec) call.
    fn custom_on(&self, rendered: &str, found: &mut Vec<Finding>) {
        if let Some((p, _)) = self.custom.iter().find(|(_, r)| r.is_match(rendered)) {
            found.push(Finding {
                category: Category::Custom,
                rule: p.clone(),
                command: rendered.to_owned(),
                why: format!("matches the job's destructive pattern `{p}`"),
                span: Some((0, rendered.len())),
            });
        }
    }

    /// Reads a command line as a `/bin/sh` script (what `mend safety check`
    /// does), with the given environment and no file-system probe.
    pub fn check_script(&self, script: &str, env: &dyn Fn(&str) -> Option<String>) -> Verdict {
        let intent = Intent::Exec { argv: None, script: Some(script.to_owned()), stdin: None, cwd: None, env: vec![], clear_env: false };
        self.check(&intent, script, false, &Context { env, probe: None })
    }
}

/// A byte range clamped to a text and to char boundaries.
pub(crate) fn clamp(span: &Range<usize>, len: usize) -> (usize, usize) {
    (span.start.min(len), span.end.min(len).max(span.start.min(len)))
}
