//! Property tests of the gate (issue 11): no quoting, escaping, wrapping,
//! flag reordering or chaining of a destructive command makes it run
//! unasked; the parser path never panics on any input; the same input
//! always gets the same verdict.
//!
//! 256 cases per property by default; `PROPTEST_CASES=10000 cargo test -p
//! mend-safety --test props` runs more.

use mend_safety::{Context, Gate, Intent, Level, SafetyConfig, Verdict};
use proptest::prelude::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn gate() -> Gate {
    Gate::new(&SafetyConfig::default()).expect("default policy")
}

fn strict_gate() -> Gate {
    Gate::new(&SafetyConfig { level: Level::Strict, ..SafetyConfig::default() }).expect("strict policy")
}

fn check_argv(gate: &Gate, argv: &[String]) -> Verdict {
    let intent = Intent::Exec { argv: Some(argv.to_vec()), script: None, stdin: None, cwd: None, env: vec![], clear_env: false };
    gate.check(&intent, &argv.join(" "), false, &Context { env: &no_env, probe: None })
}

// ───────────────────────── destructive commands, spelled every way ─────────────────────────

/// A destructive command: its words in one of their equivalent forms, and
/// the rule that must ask.
#[derive(Debug, Clone)]
struct Destructive {
    words: Vec<String>,
    rule: &'static str,
    /// `rm`-like: it may be run by `xargs` (then `xargs rm` asks instead).
    deletes_files: bool,
}

fn w(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| (*s).to_owned()).collect()
}

/// Options of a command in their equivalent spellings, placed before the
/// operands, after them, or split around them.
fn with_flags(prog: &[&str], spellings: &[&[&str]], operands: &[&str]) -> impl Strategy<Value = Vec<String>> + use<> {
    let prog = w(prog);
    let operands = w(operands);
    let spellings: Vec<Vec<String>> = spellings.iter().map(|s| w(s)).collect();
    (proptest::sample::select(spellings), 0..3usize, any::<bool>()).prop_map(move |(flags, place, dashdash)| {
        let mut out = prog.clone();
        match place {
            // before the operands, maybe with `--` between
            0 => {
                out.extend(flags.iter().cloned());
                if dashdash {
                    out.push("--".into());
                }
                out.extend(operands.iter().cloned());
            }
            // after the operands (GNU permutes)
            1 => {
                out.extend(operands.iter().cloned());
                out.extend(flags.iter().cloned());
            }
            // split around the operands
            _ => {
                let (a, b) = flags.split_at(flags.len() / 2);
                out.extend(a.iter().cloned());
                out.extend(operands.iter().cloned());
                out.extend(b.iter().cloned());
            }
        }
        out
    })
}

fn destructive() -> impl Strategy<Value = Destructive> {
    let rm_flags: &[&[&str]] = &[
        &["-rf"],
        &["-fr"],
        &["-r", "-f"],
        &["-f", "-r"],
        &["-R", "-f"],
        &["-Rf"],
        &["--recursive", "-f"],
        &["-f", "--recursive"],
        &["--recursive", "--force"],
        &["-v", "-rf"],
        &["-r"],
        &["--rec"],
    ];
    let rm_prog = proptest::sample::select(vec!["rm", "/bin/rm", "/usr/bin/rm", "grm"]);
    let rm = (rm_prog, with_flags(&[], rm_flags, &["build"])).prop_map(|(p, rest)| {
        let mut words = vec![p.to_owned()];
        words.extend(rest);
        Destructive { words, rule: "rm -r", deletes_files: true }
    });
    let chmod = with_flags(&["chmod"], &[&["-R"], &["--recursive"], &["-vR"], &["-R", "-v"]], &["777", "/srv"])
        .prop_map(|words| Destructive { words, rule: "chmod -R", deletes_files: false });
    let chown = with_flags(&["chown"], &[&["-R"], &["--recursive"], &["-hR"]], &["nobody", "/srv"]).prop_map(|words| Destructive {
        words,
        rule: "chown -R",
        deletes_files: false,
    });
    let push = proptest::sample::select(vec![
        (w(&["git", "push", "--force", "origin", "main"]), "git push --force"),
        (w(&["git", "push", "origin", "main", "-f"]), "git push --force"),
        (w(&["git", "push", "origin", "+main"]), "git push --force"),
        (w(&["git", "-C", "repo", "push", "--force-with-lease"]), "git push --force"),
        (w(&["git", "push", "origin", ":feature"]), "git push --delete"),
        (w(&["git", "push", "--delete", "origin", "feature"]), "git push --delete"),
        (w(&["git", "push", "--mirror", "backup"]), "git push --mirror"),
        (w(&["git", "reset", "--hard", "HEAD~1"]), "git reset --hard"),
        (w(&["git", "clean", "-fdx"]), "git clean -f"),
        (w(&["git", "clean", "-d", "--force"]), "git clean -f"),
    ])
    .prop_map(|(words, rule)| Destructive { words, rule, deletes_files: false });
    let others = proptest::sample::select(vec![
        (w(&["find", ".", "-name", "x.tmp", "-delete"]), "find -delete", false),
        (w(&["find", ".", "-exec", "rm", "{}", "+"]), "find -exec rm", false),
        (w(&["find", ".", "-type", "f", "-exec", "rm", "-f", "{}", ";"]), "find -exec rm", false),
        (w(&["shred", "-u", "secrets.txt"]), "shred", true),
        (w(&["mkfs.ext4", "/dev/sdb1"]), "mkfs", false),
        (w(&["dd", "if=/dev/zero", "of=/dev/sda", "bs=1M"]), "dd to a device", false),
        (w(&["wipefs", "--all", "/dev/sdb"]), "wipefs", false),
        (w(&["dropdb", "shop"]), "dropdb", false),
        (w(&["psql", "-c", "DROP TABLE users"]), "DROP", false),
        (w(&["mysql", "shop", "-e", "TRUNCATE orders"]), "TRUNCATE", false),
        (w(&["sqlite3", "app.db", "DELETE FROM sessions"]), "DELETE without WHERE", false),
        (w(&["redis-cli", "-h", "cache", "FLUSHALL"]), "FLUSHALL/FLUSHDB", false),
        (w(&["kubectl", "-n", "prod", "delete", "pod", "api-0"]), "kubectl delete", false),
        (w(&["helm", "uninstall", "api"]), "helm uninstall", false),
        (w(&["terraform", "destroy", "-auto-approve"]), "terraform destroy", false),
        (w(&["terraform", "apply", "-destroy"]), "terraform destroy", false),
        (w(&["docker", "rm", "-f", "web"]), "docker rm -f", false),
        (w(&["docker", "system", "prune", "-af"]), "docker prune", false),
        (w(&["docker", "compose", "down", "-v"]), "docker volume rm", false),
        (w(&["aws", "s3", "rm", "s3://bucket/", "--recursive"]), "aws s3 rm --recursive", false),
        (w(&["gcloud", "projects", "delete", "p"]), "cloud delete", false),
        (w(&["curl", "-X", "DELETE", "https://api.example.com/x"]), "HTTP DELETE", false),
        (w(&["curl", "https://api.example.com/x", "--request", "DELETE"]), "HTTP DELETE", false),
        (w(&["wget", "--method=DELETE", "https://api.example.com/x"]), "HTTP DELETE", false),
        (w(&["rsync", "-a", "--delete", "src/", "dst/"]), "rsync --delete", false),
        (w(&["eval", "echo hi"]), "eval", false),
    ])
    .prop_map(|(words, rule, deletes_files)| Destructive { words, rule, deletes_files });
    prop_oneof![3 => rm, 1 => chmod, 1 => chown, 2 => push, 4 => others]
}

/// How one word is written in the script.
#[derive(Debug, Clone, Copy)]
enum Quoting {
    Plain,
    Single,
    Double,
    Backslash,
    AnsiC,
    /// `r''m`: an empty quoted string spliced in.
    Split(usize),
    /// The first part single-quoted, the rest double-quoted.
    Mixed(usize),
}

fn quoting() -> impl Strategy<Value = Quoting> {
    prop_oneof![
        Just(Quoting::Plain),
        Just(Quoting::Single),
        Just(Quoting::Double),
        Just(Quoting::Backslash),
        Just(Quoting::AnsiC),
        (0..16usize).prop_map(Quoting::Split),
        (0..16usize).prop_map(Quoting::Mixed),
    ]
}

/// Characters a plain (unquoted) word may hold unchanged.
fn plain_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^~".contains(c)) && !s.starts_with('~')
}

fn single(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn double(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn quote(s: &str, q: Quoting) -> String {
    match q {
        Quoting::Plain if plain_ok(s) => s.to_owned(),
        Quoting::Plain | Quoting::Single => single(s),
        Quoting::Double => double(s),
        Quoting::Backslash => s
            .chars()
            .map(|c| match c {
                // A backslash-newline is a line continuation, not a newline.
                '\n' => "'\n'".to_owned(),
                c => format!("\\{c}"),
            })
            .collect(),
        Quoting::AnsiC => format!("$'{}'", s.bytes().map(|b| format!("\\x{b:02x}")).collect::<String>()),
        Quoting::Split(at) | Quoting::Mixed(at) => {
            let cut = s.char_indices().map(|(i, _)| i).nth(at % (s.chars().count() + 1)).unwrap_or(s.len());
            let (a, b) = s.split_at(cut);
            if matches!(q, Quoting::Split(_)) { format!("{}''{}", bare(a), bare(b)) } else { format!("{}{}", single(a), double(b)) }
        }
    }
}

/// A part of a word as it can be written without quotes, or single-quoted.
fn bare(s: &str) -> String {
    if s.is_empty() || plain_ok(s) { s.to_owned() } else { single(s) }
}

/// A wrapper around a command.
#[derive(Debug, Clone, Copy)]
enum Wrapper {
    Sudo,
    Env,
    EnvAssign,
    Timeout,
    Nice,
    NiceN,
    Nohup,
    Command,
    Exec,
    BashC,
    ShC,
    Xargs,
    Ssh,
}

fn wrapper() -> impl Strategy<Value = Wrapper> {
    proptest::sample::select(vec![
        Wrapper::Sudo,
        Wrapper::Env,
        Wrapper::EnvAssign,
        Wrapper::Timeout,
        Wrapper::Nice,
        Wrapper::NiceN,
        Wrapper::Nohup,
        Wrapper::Command,
        Wrapper::Exec,
        Wrapper::BashC,
        Wrapper::ShC,
        Wrapper::Xargs,
        Wrapper::Ssh,
    ])
}

fn wrap(cmd: String, w: Wrapper) -> String {
    match w {
        Wrapper::Sudo => format!("sudo {cmd}"),
        Wrapper::Env => format!("env {cmd}"),
        Wrapper::EnvAssign => format!("env X=1 {cmd}"),
        Wrapper::Timeout => format!("timeout 5 {cmd}"),
        Wrapper::Nice => format!("nice {cmd}"),
        Wrapper::NiceN => format!("nice -n 5 {cmd}"),
        Wrapper::Nohup => format!("nohup {cmd}"),
        Wrapper::Command => format!("command {cmd}"),
        Wrapper::Exec => format!("exec {cmd}"),
        Wrapper::BashC => format!("bash -c {}", single(&cmd)),
        Wrapper::ShC => format!("sh -c {}", double(&cmd)),
        Wrapper::Xargs => format!("xargs {cmd}"),
        Wrapper::Ssh => format!("ssh deploy@web1 {}", single(&cmd)),
    }
}

/// How the destructive command sits among benign ones.
#[derive(Debug, Clone)]
struct Chain {
    before: Option<(&'static str, &'static str)>,
    after: Option<(&'static str, &'static str)>,
    /// 0: bare, 1: `( … )`, 2: `{ …; }`, 3: `if true; then …; fi`, 4: `$( … )` in an echo.
    enclose: u8,
}

fn chain() -> impl Strategy<Value = Chain> {
    let benign = proptest::sample::select(vec!["echo ok", "ls -la", "true", "cd /tmp", "git status", "mkdir -p out", "date"]);
    let sep = proptest::sample::select(vec![" && ", "; ", " | ", " || ", "\n", " ;"]);
    (proptest::option::of((benign.clone(), sep.clone())), proptest::option::of((benign, sep)), 0..5u8)
        .prop_map(|(before, after, enclose)| Chain { before, after, enclose })
}

fn place(cmd: String, c: &Chain) -> String {
    let mut s = match c.enclose {
        1 => format!("( {cmd} )"),
        2 => format!("{{ {cmd}; }}"),
        3 => format!("if true; then {cmd}; fi"),
        4 => format!("echo \"$({cmd})\""),
        _ => cmd,
    };
    if let Some((b, sep)) = c.before {
        s = format!("{b}{sep}{s}");
    }
    if let Some((a, sep)) = c.after {
        s = format!("{s}{sep}{a}");
    }
    s
}

fn spelled() -> impl Strategy<Value = (String, Destructive, Vec<Wrapper>)> {
    (destructive(), proptest::collection::vec(quoting(), 12), proptest::collection::vec(wrapper(), 0..=3), chain()).prop_map(
        |(d, quotings, wrappers, chain)| {
            let words: Vec<String> = d.words.iter().enumerate().map(|(i, word)| quote(word, quotings[i % quotings.len()])).collect();
            // `xargs` only in front of a command that deletes the files it is given.
            let wrappers: Vec<Wrapper> = wrappers.into_iter().filter(|w| d.deletes_files || !matches!(w, Wrapper::Xargs)).collect();
            let mut cmd = words.join(" ");
            for w in &wrappers {
                cmd = wrap(cmd, *w);
            }
            (place(cmd, &chain), d, wrappers)
        },
    )
}

/// A benign command (some only mention destructive words), spelled any way.
fn benign() -> impl Strategy<Value = Vec<String>> {
    proptest::sample::select(vec![
        w(&["echo", "rm -rf /"]),
        w(&["printf", "%s", "DROP TABLE users"]),
        w(&["ls", "-la"]),
        w(&["git", "status"]),
        w(&["git", "push", "origin", "main"]),
        w(&["git", "commit", "-m", "git push --force"]),
        w(&["psql", "-c", "SELECT 1"]),
        w(&["psql", "-c", "DELETE FROM t WHERE id = 3"]),
        w(&["grep", "-rn", "rm -rf", "."]),
        w(&["curl", "-fsS", "https://example.com/health"]),
        w(&["curl", "-X", "POST", "-d", "x=1", "https://example.com/x"]),
        w(&["kubectl", "get", "pods"]),
        w(&["docker", "ps", "-a"]),
        w(&["terraform", "plan"]),
        w(&["rm", "-f", "single.txt"]),
        w(&["chmod", "644", "f"]),
        w(&["find", ".", "-name", "x"]),
        w(&["mkdir", "-p", "out/logs"]),
        w(&["cargo", "build"]),
    ])
}

/// Wrappers that run what they are given as it is.
fn benign_wrap(cmd: String, w: Wrapper) -> String {
    match w {
        Wrapper::Xargs => cmd,
        w => wrap(cmd, w),
    }
}

proptest! {
    /// Benign commands stay benign however they are spelled, wrapped or
    /// chained (no false asks from quoting, wrappers or nesting).
    #[test]
    fn benign_commands_never_ask(words in benign(), quotings in proptest::collection::vec(quoting(), 8),
                                 wrappers in proptest::collection::vec(wrapper(), 0..=3), chain in chain()) {
        let mut cmd = words.iter().enumerate().map(|(i, word)| quote(word, quotings[i % quotings.len()])).collect::<Vec<_>>().join(" ");
        for w in &wrappers {
            cmd = benign_wrap(cmd, *w);
        }
        let script = place(cmd, &chain);
        let v = gate().check_script(&script, &no_env);
        prop_assert!(v.asks.is_empty(), "script {script:?} asked: {:?}", v.asks.iter().map(|f| (&f.rule, &f.why)).collect::<Vec<_>>());
    }

    /// (a) However it is spelled, wrapped or chained, a destructive
    /// command asks, by its own rule.
    #[test]
    fn destructive_commands_always_ask((script, d, wrappers) in spelled()) {
        let v = gate().check_script(&script, &no_env);
        let rules: Vec<&str> = v.asks.iter().map(|f| f.rule.as_str()).collect();
        let by_xargs = wrappers.iter().any(|w| matches!(w, Wrapper::Xargs));
        let ok = rules.contains(&d.rule) || (by_xargs && rules.contains(&"xargs rm"));
        prop_assert!(ok, "script {script:?}: expected `{}`, got {rules:?}", d.rule);
    }

    /// (a) The same through an argv (no shell): quoting does not apply,
    /// wrappers and flag orders do.
    #[test]
    fn destructive_argv_always_asks(d in destructive(), wrappers in proptest::collection::vec(
        proptest::sample::select(vec!["sudo", "env", "nohup", "command", "nice"]), 0..=3)) {
        let mut argv: Vec<String> = wrappers.iter().map(|s| (*s).to_owned()).collect();
        argv.extend(d.words.iter().cloned());
        let v = check_argv(&gate(), &argv);
        prop_assert!(v.asks.iter().any(|f| f.rule == d.rule), "argv {argv:?}: expected `{}`, got {:?}", d.rule, v.asks);
    }

    /// (b) Any text at all: the gate answers, never panics.
    #[test]
    fn any_text_never_panics(text in any::<String>()) {
        let _ = gate().check_script(&text, &no_env);
        let _ = strict_gate().check_script(&text, &no_env);
    }

    /// (b) Text dense with shell syntax: quotes, substitutions, redirections,
    /// here-documents, braces, globs.
    #[test]
    fn shell_like_text_never_panics(text in r#"([a-z]{1,4}|[ \t\n$'"\\`(){}\[\]|&;<>*?!#~=,.:/+%@^-]|\$\(|<<-?|<<<|\$'|\$\{|\$\(\(|\{[a-z],[a-z]\}|[0-9]){0,40}"#) {
        let _ = gate().check_script(&text, &no_env);
        let _ = strict_gate().check_script(&text, &no_env);
    }

    /// (b) Here-documents with expansions left open: brush-parser 0.4 spins
    /// forever on some (reubeno/brush #1270); the gate must answer. A hang
    /// or an out-of-memory abort fails this test by killing it.
    #[test]
    fn open_heredocs_never_hang(text in r#"([a-z]{1,3}|<<-?|<<<|<|\$\(|\$\{|\$\[|\$\(\(|`|[ \t\n]|[)}\]'"\\;|&]){0,24}"#) {
        let _ = gate().check_script(&text, &no_env);
    }

    /// (b) Nesting of any depth, on a 2 MB stack (tokio's worker threads):
    /// the gate reads it or asks, and never overflows the stack.
    #[test]
    fn deep_nesting_never_overflows(opens in proptest::collection::vec(proptest::sample::select(vec![
        ("$(", ")"), ("(", ")"), ("{ ", "; }"), ("${x:-", "}"), ("if true; then ", "; fi"), ("$((1+", "))"), ("nice ", ""),
    ]), 0..1800)) {
        let mut text = String::new();
        for (open, _) in &opens {
            text.push_str(open);
        }
        text.push_str("rm -rf build");
        for (_, close) in opens.iter().rev() {
            text.push_str(close);
        }
        let asks = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || !gate().check_script(&text, &no_env).asks.is_empty())
            .expect("spawn")
            .join()
            .expect("the gate did not overflow its stack");
        prop_assert!(asks);
    }

    /// (b) Bytes, read as text the way a lossy reader would.
    #[test]
    fn byte_soup_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = gate().check_script(&text, &no_env);
    }

    /// (b) Any argv vector, the program included.
    #[test]
    fn any_argv_never_panics(argv in proptest::collection::vec(any::<String>(), 0..8)) {
        let _ = check_argv(&gate(), &argv);
        let _ = check_argv(&strict_gate(), &argv);
    }

    /// (b) Argv vectors made of the words the rules look at.
    #[test]
    fn rule_words_argv_never_panics(argv in proptest::collection::vec(proptest::sample::select(vec![
        "rm", "-rf", "--", "sudo", "env", "-S", "xargs", "find", "-exec", ";", "+", "{}", "sh", "-c", "bash", "git", "push", "-f",
        "psql", "-c", "mysql", "-e", "-p", "sqlite3", "curl", "-X", "DELETE", "ssh", "kubectl", "exec", "docker", "compose",
        "timeout", "5", "nice", "-n", "dd", "of=/dev/sda", "", "=", "-", "--x=", "$(x)", "'", "\"", "\\", "\n",
    ]), 0..10)) {
        let argv: Vec<String> = argv.into_iter().map(str::to_owned).collect();
        let _ = check_argv(&gate(), &argv);
    }

    /// (c) The same input always gets the same verdict.
    #[test]
    fn verdicts_are_deterministic((script, _, _) in spelled(), text in any::<String>()) {
        let g = gate();
        prop_assert_eq!(g.check_script(&script, &no_env), g.check_script(&script, &no_env));
        prop_assert_eq!(g.check_script(&text, &no_env), gate().check_script(&text, &no_env));
    }
}

// ───────────────── the catch-alls (red team after issue 17) ─────────────────

fn rules_of(v: &Verdict) -> Vec<String> {
    v.asks.iter().map(|f| f.rule.clone()).collect()
}

/// A verb spelled as CLIs spell subcommands: alone, with a noun before or
/// after it (`delete-bucket`, `apps:destroy`, `ecto.drop`), in camel case
/// (`dropAll`), in any letter case.
fn spelled_verb() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(vec![
            "delete",
            "destroy",
            "remove",
            "purge",
            "drop",
            "prune",
            "wipe",
            "terminate",
            "unpublish",
            "obliterate",
            "nuke",
        ]),
        proptest::sample::select(vec!["", "bucket", "apps", "db", "cluster", "all", "volume"]),
        0..5usize,
    )
        .prop_map(|(verb, noun, form)| match (form, noun) {
            (_, "") | (0, _) => verb.to_owned(),
            (1, n) => format!("{verb}-{n}"),
            (2, n) => format!("{n}:{verb}"),
            (3, n) => format!("{n}.{verb}"),
            (_, n) => {
                let mut cap = n.to_owned();
                cap[..1].make_ascii_uppercase();
                format!("{verb}{cap}")
            }
        })
        // Upper case too, except where only the case shows where the verb ends.
        .prop_flat_map(|v| {
            (Just(v), any::<bool>())
                .prop_map(|(v, upper)| if upper && !v.chars().any(|c| c.is_ascii_uppercase()) { v.to_ascii_uppercase() } else { v })
        })
}

proptest! {
    /// A program the gate has no rule for, told to destroy something: the
    /// verb among its first words (after subcommand words and options, with
    /// operands and options after it) asks, quoted or not.
    #[test]
    fn an_unknown_programs_destructive_subcommand_asks(
        prog in "zz[a-z]{2,6}",
        before in proptest::collection::vec(proptest::sample::select(vec!["apps", "compute", "server", "--yes", "-q", "project", "--region=eu"]), 0..3),
        verb in spelled_verb(),
        after in proptest::collection::vec(proptest::sample::select(vec!["prod", "-f", "--force", "my-app", "--all", "42"]), 0..3),
        q in quoting(),
    ) {
        let mut argv = vec![prog.clone()];
        argv.extend(before.iter().map(|s| (*s).to_owned()));
        argv.push(verb.clone());
        argv.extend(after.iter().map(|s| (*s).to_owned()));
        let v = check_argv(&gate(), &argv);
        // (`wipe`, `rm` are programs too: then it asks as an unknown wrapper of them.)
        prop_assert!(!v.asks.is_empty(), "{argv:?}: {:?}", rules_of(&v));
        let script = argv.iter().map(|a| quote(a, q)).collect::<Vec<_>>().join(" ");
        prop_assert!(!gate().check_script(&script, &no_env).asks.is_empty(), "{script}");
    }

    /// The same programs doing ordinary work (listing, deploying, reading)
    /// run unasked.
    #[test]
    fn an_unknown_programs_ordinary_subcommands_run(
        prog in "zz[a-z]{2,6}",
        words in proptest::collection::vec(proptest::sample::select(vec![
            "list", "get", "deploy", "status", "logs", "apps", "--json", "-o", "yaml", "create", "describe", "show", "version", "notes-to-delete.txt", "./build/removed",
        ]), 0..5),
    ) {
        let mut argv = vec![prog];
        argv.extend(words.iter().map(|s| (*s).to_owned()));
        let v = check_argv(&gate(), &argv);
        prop_assert!(v.asks.is_empty(), "{argv:?}: {:?}", rules_of(&v));
    }

    /// A block device, however its path is spelled (`//dev`, `/dev/./`,
    /// `/proc/self/root/dev`, `/tmp/../dev`, by id), given to a program the
    /// gate has no rule for asks; `cd /dev` then a relative name too.
    #[test]
    fn a_block_device_given_to_an_unknown_program_asks(
        prog in "zz[a-z]{2,6}",
        dev in proptest::sample::select(vec!["sda", "sdb1", "nvme0n1", "nvme0n1p2", "vda", "xvdf", "mmcblk0", "md0", "dm-0", "mapper/vg-data", "disk/by-id/ata-X"]),
        prefix in proptest::sample::select(vec!["/dev/", "//dev/", "/dev/./", "/proc/self/root/dev/", "/proc/1/root/dev/", "/tmp/../dev/"]),
        opt in proptest::sample::select(vec!["", "-o", "--output=", "of=", "OPEN:"]),
        via_cd in any::<bool>(),
    ) {
        let path = format!("{prefix}{dev}");
        let script = if via_cd && opt.is_empty() {
            format!("cd /dev && {prog} --yes {dev}")
        } else if opt.ends_with(['=', ':']) {
            format!("{prog} {opt}{path}")
        } else {
            format!("{prog} {opt} {path}")
        };
        let v = gate().check_script(&script, &no_env);
        prop_assert!(rules_of(&v).contains(&"device operand".to_owned()), "{script}: {:?}", rules_of(&v));
    }
}
