//! `mend safety`: the gate's rules table, and its verdict on a command
//! (issue 11) — the same gate `mend run` consults before every call, with
//! the user's `[safety]` config applied.

use clap::Subcommand;
use mend_core::config::Config;
use mend_core::safety::{Context, Gate, Intent, Level, RULES, SafetyConfig, Verdict, rules_markdown};

use crate::{EXIT_BAD_INPUT, EXIT_OK};

/// Exit code of `mend safety check` when the command would wait for a
/// person (the code `mend run` exits with when it is left waiting).
const EXIT_WOULD_ASK: u8 = 3;

/// `mend safety …`.
#[derive(Subcommand)]
pub enum SafetyCmd {
    /// Print the rules table: category, rule, level, the forms it catches.
    Rules {
        /// As the markdown table of docs/safety.md.
        #[arg(long)]
        markdown: bool,
        /// As JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Tell whether a command would run unasked, and if not, which part
    /// asks and why. Exit 0: runs unasked; 3: would ask. Options go before
    /// the command (everything after its first word is the command).
    Check {
        /// The command: one argument is read as a `/bin/sh` script; with
        /// `--argv`, the arguments are a program and its arguments.
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true, trailing_var_arg = true)]
        command: Vec<String>,
        /// Read the arguments as argv (no shell), as `args = { program, args }` does.
        #[arg(long)]
        argv: bool,
        /// Check at the strict level (single-file deletion and overwrites ask;
        /// no file system is looked at, so every target counts as existing).
        #[arg(long)]
        strict: bool,
        /// Extra allow rules (regexes matched against each whole simple command).
        #[arg(long = "allow")]
        allow: Vec<String>,
        /// JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `mend safety …`.
pub fn safety(config: &Config, cmd: SafetyCmd) -> u8 {
    match cmd {
        SafetyCmd::Rules { markdown: true, .. } => print!("{}", rules_markdown()),
        SafetyCmd::Rules { json: true, .. } => {
            for r in RULES {
                let level = if r.level == Level::Strict { "strict" } else { "standard" };
                println!("{}", serde_json::json!({"category": r.category.as_str(), "rule": r.rule, "level": level, "catches": r.catches}));
            }
        }
        SafetyCmd::Rules { .. } => {
            let mut last = None;
            for r in RULES {
                if last != Some(r.category) {
                    println!("{}", r.category.as_str());
                    last = Some(r.category);
                }
                let level = if r.level == Level::Strict { " [strict]" } else { "" };
                println!("  {:<28}{level} {}", r.rule, r.catches.replace('`', ""));
            }
        }
        SafetyCmd::Check { command, argv, strict, allow, json } => {
            let cfg = SafetyConfig {
                level: if strict { Level::Strict } else { config.safety.level },
                allow: config.safety.allow.iter().chain(&allow).cloned().collect(),
                ..config.safety.clone()
            };
            let gate = match Gate::new(&cfg) {
                Ok(g) => g,
                Err(e) => {
                    eprintln!("mend: --allow: {e}");
                    return EXIT_BAD_INPUT;
                }
            };
            let (intent, rendered) = if argv {
                (
                    Intent::Exec {
                        argv: Some(command.clone()),
                        script: None,
                        stdin: None,
                        cwd: std::env::current_dir().ok(),
                        env: vec![],
                        clear_env: false,
                    },
                    command.join(" "),
                )
            } else {
                let script = command.join(" ");
                // Judged in the folder it is checked from, as a step runs in its `cwd` (`dd of=sda` in /dev).
                (
                    Intent::Exec {
                        argv: None,
                        script: Some(script.clone()),
                        stdin: None,
                        cwd: std::env::current_dir().ok(),
                        env: vec![],
                        clear_env: false,
                    },
                    script,
                )
            };
            let env = |n: &str| std::env::var(n).ok();
            let v = gate.check(&intent, &rendered, false, &Context { env: &env, probe: None });
            print_verdict(&rendered, &v, json);
            return if v.asks.is_empty() { EXIT_OK } else { EXIT_WOULD_ASK };
        }
    }
    EXIT_OK
}

fn print_verdict(rendered: &str, v: &Verdict, json: bool) {
    if json {
        let asks: Vec<_> = v.asks.iter().collect();
        let allowed: Vec<_> = v.allowed.iter().map(|(f, rule)| serde_json::json!({"finding": f, "allow": rule})).collect();
        println!("{}", serde_json::json!({"asks": asks, "allowed": allowed, "runs_unasked": v.asks.is_empty()}));
        return;
    }
    if v.asks.is_empty() {
        println!("runs unasked");
    } else {
        println!("asks before it runs:");
    }
    for f in &v.asks {
        println!("  {}", crate::run::highlight(rendered, f.span, false));
        println!("    rule `{}` ({}): {} — in `{}`", f.rule, f.category.as_str(), f.why, f.command);
    }
    for (f, rule) in &v.allowed {
        println!("  allowed by `{rule}`: `{}` (rule `{}`)", f.command, f.rule);
    }
}
