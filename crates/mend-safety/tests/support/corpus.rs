//! The corpus format (`tests/safety/corpus.toml`), shared by the corpus
//! test and the gate benchmark: one definition of a case, the call it
//! describes and the file system it sees.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use mend_safety::{Intent, Level, Probe, SafetyConfig};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub script: Option<String>,
    pub argv: Option<Vec<String>>,
    pub http: Option<Http>,
    pub fs: Option<Fs>,
    #[serde(default)]
    pub tool_destructive: bool,
    pub stdin: Option<String>,
    pub expect: String,
    pub rule: Option<String>,
    #[serde(default)]
    pub level: Option<Level>,
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub destructive: Vec<String>,
    pub delete_hosts: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub exists: Vec<String>,
    pub cwd: Option<PathBuf>,
    #[allow(dead_code)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    pub method: String,
    pub url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fs {
    pub op: String,
    pub path: PathBuf,
    #[serde(default)]
    pub overwrite: bool,
}

#[derive(Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

pub struct Files(pub HashSet<PathBuf>);

impl Probe for Files {
    fn exists(&self, path: &Path) -> bool {
        self.0.contains(path) || self.0.iter().any(|p| p.starts_with(path))
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.0.iter().any(|p| p != path && p.starts_with(path))
    }
}

pub fn load() -> Vec<Case> {
    // Every `corpus*.toml` of the folder: the first corpus, and the red
    // teams' findings by kind.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/safety");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("corpus")))
        .collect();
    files.sort();
    // A red team's candidates, tried without adding them yet.
    files.extend(std::env::var_os("MEND_CORPUS_EXTRA").map(std::path::PathBuf::from));
    let mut cases = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        cases.extend(toml::from_str::<Corpus>(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())).case);
    }
    cases
}

pub fn name(c: &Case) -> String {
    match (&c.script, &c.argv, &c.http, &c.fs) {
        (Some(s), ..) => s.clone(),
        (None, Some(a), ..) => format!("argv {a:?}"),
        (None, None, Some(h), _) => format!("http {} {}", h.method, h.url),
        (None, None, None, Some(f)) => format!("fs {} {}", f.op, f.path.display()),
        _ => "?".into(),
    }
}

/// The call a case describes, and the text it is shown as.
pub fn intent(c: &Case) -> (Intent, String) {
    if let Some(h) = &c.http {
        return (Intent::Http { method: h.method.clone(), url: h.url.clone() }, format!("{} {}", h.method, h.url));
    }
    if let Some(f) = &c.fs {
        return (
            Intent::Fs { op: f.op.clone(), path: f.path.clone(), overwrite: f.overwrite },
            format!("fs {} {}", f.op, f.path.display()),
        );
    }
    let intent = Intent::Exec {
        argv: c.argv.clone(),
        script: c.script.clone(),
        stdin: c.stdin.clone(),
        cwd: Some(c.cwd.clone().unwrap_or_else(|| PathBuf::from("/work"))),
        env: vec![],
        clear_env: false,
    };
    (intent, c.script.clone().unwrap_or_else(|| c.argv.clone().unwrap_or_default().join(" ")))
}

/// The case's policy.
pub fn config(c: &Case) -> SafetyConfig {
    SafetyConfig {
        level: c.level.unwrap_or_default(),
        destructive: c.destructive.clone(),
        allow: c.allow.clone(),
        delete_hosts: c.delete_hosts.clone(),
    }
}

/// The strict level's view of the file system for a case: its `exists`
/// paths, relative ones under `/work`.
pub fn files(c: &Case) -> Files {
    Files(c.exists.iter().map(|p| Path::new("/work").join(p)).collect())
}
