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

#[path = "support/corpus.rs"]
mod support;

use std::collections::HashSet;

use mend_safety::{Context, Gate, RULES};
use support::{config, files, intent, load, name};

#[test]
fn corpus_verdicts_hold() {
    let cases = load();
    let known: HashSet<&str> = RULES.iter().map(|r| r.rule).collect();
    let mut wrong = Vec::new();
    let mut false_asks = Vec::new();
    let (mut asks, mut runs) = (0, 0);
    for c in &cases {
        let gate = Gate::new(&config(c)).unwrap_or_else(|e| panic!("{}: {e}", name(c)));
        let env = |n: &str| c.env.get(n).cloned();
        let files = files(c);
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
