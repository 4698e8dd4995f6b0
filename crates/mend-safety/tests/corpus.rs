//! The corpus (`tests/safety/corpus.toml`) through the real gate: every
//! destructive form asks with its rule, every benign one runs; false asks
//! are listed by name and must stay at or under 2 % of the benign cases
//! (issue 11).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use mend_safety::{Context, Gate, Intent, Level, Probe, RULES, SafetyConfig};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    script: Option<String>,
    argv: Option<Vec<String>>,
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
    #[allow(dead_code)]
    note: Option<String>,
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
    match (&c.script, &c.argv) {
        (Some(s), _) => s.clone(),
        (None, Some(a)) => format!("argv {a:?}"),
        _ => "?".into(),
    }
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
        let files = Files(c.exists.iter().map(PathBuf::from).collect());
        let intent = Intent::Exec {
            argv: c.argv.clone(),
            script: c.script.clone(),
            stdin: c.stdin.clone(),
            cwd: Some(PathBuf::from("/work")),
            env: vec![],
            clear_env: false,
        };
        let rendered = c.script.clone().unwrap_or_else(|| c.argv.clone().unwrap_or_default().join(" "));
        let v = gate.check(&intent, &rendered, false, &Context { env: &env, probe: Some(&files) });
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
