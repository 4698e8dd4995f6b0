//! The corpus (`tests/safety/corpus.toml`) through the real gate: every
//! destructive form asks with its rule, every benign one runs; false asks
//! are listed by name and must stay at or under 2 % of the benign cases
//! (issue 11).
//!
//! A case is one of: `script` (a `/bin/sh -c` script), `argv` (a program
//! and its arguments, no shell), `http = { method, url }` (the `http`
//! tool), `fs = { op, path, overwrite }` (the `fs` tool). `expect` is
//! `"ask"` (with the `rule` that must be among the findings) or `"run"`.
//! Optional: `stdin`, `level = "strict"`, `allow`, `destructive`,
//! `delete_hosts`, `env`, `exists` (paths the strict level's probe sees;
//! relative paths resolve against `/work`), `cwd` (the working directory,
//! `/work` by default), `tool_destructive` (the tool's
//! own judgement) and `note`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use mend_safety::{Context, Gate, Intent, Level, Probe, RULES, SafetyConfig};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    script: Option<String>,
    argv: Option<Vec<String>>,
    http: Option<Http>,
    fs: Option<Fs>,
    #[serde(default)]
    tool_destructive: bool,
    stdin: Option<String>,
    expect: String,
    rule: Option<String>,
    #[serde(default)]
    level: Option<Level>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    destructive: Vec<String>,
    delete_hosts: Option<Vec<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    exists: Vec<String>,
    cwd: Option<PathBuf>,
    #[allow(dead_code)]
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Http {
    method: String,
    url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fs {
    op: String,
    path: PathBuf,
    #[serde(default)]
    overwrite: bool,
}

#[derive(Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

struct Files(HashSet<PathBuf>);

impl Probe for Files {
    fn exists(&self, path: &Path) -> bool {
        self.0.contains(path) || self.0.iter().any(|p| p.starts_with(path))
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.0.iter().any(|p| p != path && p.starts_with(path))
    }
}

fn load() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/safety/corpus.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str::<Corpus>(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())).case
}

fn name(c: &Case) -> String {
    match (&c.script, &c.argv, &c.http, &c.fs) {
        (Some(s), ..) => s.clone(),
        (None, Some(a), ..) => format!("argv {a:?}"),
        (None, None, Some(h), _) => format!("http {} {}", h.method, h.url),
        (None, None, None, Some(f)) => format!("fs {} {}", f.op, f.path.display()),
        _ => "?".into(),
    }
}

/// The call a case describes, and the text it is shown as.
fn intent(c: &Case) -> (Intent, String) {
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

#[test]
fn corpus_verdicts_hold() {
    let cases = load();
    let known: HashSet<&str> = RULES.iter().map(|r| r.rule).collect();
    let mut wrong = Vec::new();
    let mut false_asks = Vec::new();
    let (mut asks, mut runs) = (0, 0);
    for c in &cases {
        let cfg = SafetyConfig {
            level: c.level.unwrap_or_default(),
            destructive: c.destructive.clone(),
            allow: c.allow.clone(),
            delete_hosts: c.delete_hosts.clone(),
        };
        let gate = Gate::new(&cfg).unwrap_or_else(|e| panic!("{}: {e}", name(c)));
        let env = |n: &str| c.env.get(n).cloned();
        let files = Files(c.exists.iter().map(|p| Path::new("/work").join(p)).collect());
        let (intent, rendered) = intent(c);
        let v = gate.check(&intent, &rendered, c.tool_destructive, &Context { env: &env, probe: Some(&files) });
        match c.expect.as_str() {
            "ask" => {
                asks += 1;
                let rule = c.rule.as_deref().unwrap_or_else(|| panic!("{}: an `ask` case names its rule", name(c)));
                assert!(known.contains(rule) || !c.destructive.is_empty(), "{}: `{rule}` is not in RULES", name(c));
                if !v.asks.iter().any(|f| f.rule == rule) {
                    wrong.push(format!(
                        "{}: expected ask by `{rule}`, got {:?}",
                        name(c),
                        v.asks.iter().map(|f| &f.rule).collect::<Vec<_>>()
                    ));
                }
            }
            "run" => {
                runs += 1;
                if let Some(f) = v.first() {
                    false_asks.push(format!("{}: asked by `{}` ({})", name(c), f.rule, f.why));
                }
            }
            other => panic!("{}: expect is `ask` or `run`, not `{other}`", name(c)),
        }
    }
    eprintln!("corpus: {asks} destructive, {runs} benign, {} false asks", false_asks.len());
    for f in &false_asks {
        eprintln!("  false ask: {f}");
    }
    assert!(wrong.is_empty(), "{} case(s) wrong:\n{}", wrong.len(), wrong.join("\n"));
    assert!(false_asks.len() * 50 <= runs, "false asks over 2 % of {runs} benign cases:\n{}", false_asks.join("\n"));
}

/// Rules the gate itself does not produce: the engine (mend-core) finds a
/// healing proposal that moves a secret, and tests it there.
const RULES_OUTSIDE_THE_GATE: &[&str] = &["secret to a new destination", "secret in a changed command"];

#[test]
fn corpus_covers_every_rule() {
    let cases = load();
    let named: HashSet<&str> = cases.iter().filter(|c| c.expect == "ask").filter_map(|c| c.rule.as_deref()).collect();
    let missing: Vec<&str> = RULES.iter().map(|r| r.rule).filter(|r| !named.contains(r) && !RULES_OUTSIDE_THE_GATE.contains(r)).collect();
    assert!(missing.is_empty(), "rules without a corpus case: {missing:?}");
}
