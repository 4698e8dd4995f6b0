//! The rules: each simple command classified by meaning. Programs are
//! normalised, wrappers unwrapped to what they run, flags read in any order
//! and spelling (`-rf`, `-fr`, `-R -f`, `--recursive` or an abbreviation
//! of it, after operands), SQL handed to the SQL reader, URLs to the host
//! normaliser. Command lines hidden in other places are read as scripts
//! too: in a wrapper's string (`sh -c`, `ssh HOST CMD`, `env -S`), in a
//! command's standard input when it is a shell (`ssh HOST bash <<<`), in a
//! variable programs run (`GIT_SSH_COMMAND`, `PAGER`), in an SQL client's
//! shell escape (`\!`, `.shell`, `COPY … PROGRAM`), in a crontab or a
//! makefile given on standard input, and in a script file this same call
//! writes before running it. The rule names here are the ones in
//! [`crate::RULES`] (a test keeps them equal).

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::shell::{self, Cmd, Env, Redir, RedirKind, Stdin, Word, quote};
use crate::{Category, Finding, Gate, Level, Probe, sql};

mod db;
mod git;
pub(crate) mod system;

use db::*;
use system::*;

/// Programs that never run their arguments as commands: a word in their
/// arguments that names a program is only text (`echo rm -rf x`).
const INERT: &[&str] = &[
    "echo",
    "printf",
    "cat",
    "tac",
    "ls",
    "dir",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "ag",
    "ack",
    "head",
    "tail",
    "wc",
    "sort",
    "uniq",
    "cut",
    "tr",
    "touch",
    "mkdir",
    "rmdir",
    "stat",
    "file",
    "du",
    "df",
    "pwd",
    "basename",
    "dirname",
    "realpath",
    "readlink",
    "which",
    "type",
    "whereis",
    "man",
    "info",
    "apropos",
    "whatis",
    "help",
    "test",
    "[",
    "true",
    "false",
    ":",
    "sleep",
    "date",
    "id",
    "whoami",
    "hostname",
    "uname",
    "printenv",
    "diff",
    "cmp",
    "comm",
    "jq",
    "yq",
    "less",
    "more",
    "od",
    "hexdump",
    "xxd",
    "base64",
    "sha256sum",
    "sha1sum",
    "md5sum",
    "cksum",
    "gzip",
    "gunzip",
    "zcat",
    "bzip2",
    "xz",
    "unxz",
    "zip",
    "unzip",
    "tee",
    "nl",
    "fold",
    "fmt",
    "column",
    "paste",
    "join",
    "split",
    "csplit",
    "expand",
    "unexpand",
    "seq",
    "yes",
    "logger",
    "notify-send",
    "wall",
    "cd",
    "pushd",
    "popd",
    "exit",
    "return",
    "shift",
    "set",
    "shopt",
    "ulimit",
    "umask",
    "wait",
    "jobs",
    "kill",
    "export",
    "declare",
    "typeset",
    "local",
    "readonly",
    "read",
    "let",
    "unset",
    "getopts",
    "hash",
    "mktemp",
    "install",
    "cp",
    "mv",
    "ln",
    "chmod",
    "chown",
    "chgrp",
    "truncate",
    "tree",
    "locate",
    "ps",
    "top",
    "free",
    "uptime",
    "env_parallel",
    "npm",
    "npx",
    "yarn",
    "pnpm",
    "cargo",
    "rustc",
    "go",
    "make",
    "cmake",
    "pip",
    "pip3",
    "apt",
    "apt-get",
    "dpkg",
    "brew",
    "systemctl",
    "journalctl",
    "service",
    "ping",
    "dig",
    "nslookup",
    "host",
    "nc",
    "openssl",
    "ssh-keygen",
    "gpg",
    "tar",
    "scp",
    "sftp",
    "mount",
    "umount",
    "lsblk",
    "blkid",
    "free",
    "vmstat",
    "iostat",
    "lsof",
    "curl",
    "wget",
    "http",
    "https",
    "xh",
    "xhs",
];

/// Programs that run a script file or read their commands from a file: the
/// gate does not read files (SECURITY.md).
const SHELLS: &[&str] =
    &["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "posh", "lksh", "pdksh", "rbash", "fish", "csh", "tcsh"];

/// `g`-prefixed GNU tools (`grm` on macOS with coreutils) are the tool.
const GNU_PREFIXED: &[&str] = &[
    "rm", "find", "xargs", "shred", "chmod", "chown", "chgrp", "dd", "timeout", "nice", "nohup", "env", "stdbuf", "truncate", "mv", "cp",
    "ln", "unlink", "tee", "sed", "awk",
];

/// Environment variables that programs run as a command line (through a
/// shell): setting one is running that command when the program wants it.
const COMMAND_VARIABLES: &[&str] = &[
    "GIT_SSH_COMMAND",
    "GIT_SSH",
    "GIT_EDITOR",
    "GIT_SEQUENCE_EDITOR",
    "GIT_PAGER",
    "GIT_ASKPASS",
    "GIT_EXTERNAL_DIFF",
    "GIT_PROXY_COMMAND",
    "EDITOR",
    "VISUAL",
    "FCEDIT",
    "KUBE_EDITOR",
    "PAGER",
    "MANPAGER",
    "SYSTEMD_PAGER",
    "LESSOPEN",
    "LESSCLOSE",
    "SSH_ASKPASS",
    "SUDO_ASKPASS",
    "BROWSER",
    "RSYNC_RSH",
    "PROMPT_COMMAND",
    "RSYNC_CONNECT_PROG",
    "SUDO_EDITOR",
    "KUBECTL_EXTERNAL_DIFF",
    "DIFF_COMMAND",
    // Expanded (with its `$(…)`) before each traced command under `set -x`.
    "PS4",
];

/// kubectl's options that take a value (global and common subcommand ones).
const KUBECTL_VALUE_OPTIONS: &[&str] = &[
    "--namespace",
    "--context",
    "--cluster",
    "--kubeconfig",
    "--server",
    "--user",
    "--username",
    "--password",
    "--token",
    "--as",
    "--as-group",
    "--as-uid",
    "--request-timeout",
    "--v",
    "--vmodule",
    "--cache-dir",
    "--certificate-authority",
    "--client-certificate",
    "--client-key",
    "--tls-server-name",
    "--profile",
    "--profile-output",
    "--log-flush-frequency",
    "--selector",
    "--output",
    "--filename",
    "--container",
    "--field-selector",
    "--timeout",
    "--pod-running-timeout",
    "--image",
    "--overrides",
];

/// kubectl's (and oc's) commands, to find the verb after an option whose
/// value is not known to take one.
const KUBECTL_VERBS: &[&str] = &[
    "create",
    "expose",
    "run",
    "set",
    "explain",
    "get",
    "edit",
    "delete",
    "rollout",
    "scale",
    "autoscale",
    "certificate",
    "cluster-info",
    "top",
    "cordon",
    "uncordon",
    "drain",
    "taint",
    "describe",
    "logs",
    "attach",
    "exec",
    "port-forward",
    "proxy",
    "cp",
    "auth",
    "debug",
    "events",
    "diff",
    "apply",
    "patch",
    "replace",
    "wait",
    "kustomize",
    "label",
    "annotate",
    "completion",
    "alpha",
    "api-resources",
    "api-versions",
    "config",
    "plugin",
    "version",
    "options",
    "adm",
    "project",
    "new-app",
    "login",
    "logout",
    "rsh",
    "rsync",
];

/// `docker run`'s long options that take a value.
const DOCKER_RUN_VALUE_OPTIONS: &[&str] = &[
    "--add-host",
    "--annotation",
    "--attach",
    "--blkio-weight",
    "--cap-add",
    "--cap-drop",
    "--cgroup-parent",
    "--cgroupns",
    "--cidfile",
    "--cpu-period",
    "--cpu-quota",
    "--cpu-rt-period",
    "--cpu-rt-runtime",
    "--cpu-shares",
    "--cpus",
    "--cpuset-cpus",
    "--cpuset-mems",
    "--device",
    "--device-cgroup-rule",
    "--device-read-bps",
    "--device-read-iops",
    "--device-write-bps",
    "--device-write-iops",
    "--dns",
    "--dns-option",
    "--dns-search",
    "--domainname",
    "--entrypoint",
    "--env",
    "--env-file",
    "--expose",
    "--gpus",
    "--group-add",
    "--health-cmd",
    "--health-interval",
    "--health-retries",
    "--health-start-period",
    "--health-timeout",
    "--hostname",
    "--ip",
    "--ip6",
    "--ipc",
    "--isolation",
    "--kernel-memory",
    "--label",
    "--label-file",
    "--link",
    "--link-local-ip",
    "--log-driver",
    "--log-opt",
    "--mac-address",
    "--memory",
    "--memory-reservation",
    "--memory-swap",
    "--memory-swappiness",
    "--mount",
    "--name",
    "--network",
    "--network-alias",
    "--oom-score-adj",
    "--pid",
    "--pids-limit",
    "--platform",
    "--publish",
    "--pull",
    "--restart",
    "--runtime",
    "--security-opt",
    "--shm-size",
    "--stop-signal",
    "--stop-timeout",
    "--storage-opt",
    "--sysctl",
    "--tmpfs",
    "--ulimit",
    "--user",
    "--userns",
    "--uts",
    "--volume",
    "--volume-driver",
    "--volumes-from",
    "--workdir",
];

/// Paths under `/dev` that are not storage.
const HARMLESS_DEV: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/stdout",
    "/dev/stderr",
    "/dev/stdin",
    "/dev/tty",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/console",
];

fn is_device(p: &str) -> bool {
    let p = p.trim();
    p.starts_with("/dev/")
        && !p.starts_with("/dev/tcp/")
        && !p.starts_with("/dev/udp/")
        && !HARMLESS_DEV.contains(&p)
        && !p.starts_with("/dev/fd/")
        && !p.starts_with("/dev/pts/")
        && !p.starts_with("/dev/shm/")
        && !p.starts_with("/dev/tty")
}

/// The program's name as the rules know it: no directory, no `g` prefix of
/// GNU tools.
/// The name rules dispatch on: case folded (macOS file systems find `RM`
/// as `rm`), Lua's versioned and JIT builds as `lua`.
fn canonical_name(n: String) -> String {
    let l = if n == "Rscript" { n } else { n.to_ascii_lowercase() };
    if l == "luajit" || l.starts_with("lua5") || l.starts_with("lua-5") {
        return "lua".to_owned();
    }
    // Versioned and alternative builds are the interpreter (`ruby3.1`, `php8.2`, `node18`, `ipython3`, `original-awk`).
    if matches!(l.as_str(), "original-awk" | "busybox-awk" | "onetrue-awk" | "bwk-awk") {
        return "awk".to_owned();
    }
    if l.starts_with("ipython") {
        return "python3".to_owned();
    }
    for base in ["ruby", "php", "nodejs", "node", "deno", "bun"] {
        if let Some(v) = l.strip_prefix(base)
            && !v.is_empty()
            && v.trim_start_matches(['-', '.']).chars().all(|c| c.is_ascii_digit() || c == '.')
        {
            return base.to_owned();
        }
    }
    l
}

pub(crate) fn normalise_program(p: &str) -> String {
    let base = p.rsplit('/').next().unwrap_or(p);
    let base = base.strip_prefix('\\').unwrap_or(base);
    if let Some(rest) = base.strip_prefix('g').or_else(|| base.strip_prefix("uu-"))
        && GNU_PREFIXED.contains(&rest)
    {
        return rest.to_owned();
    }
    base.to_owned()
}

/// A command's words read as options and operands.
#[derive(Debug, Default)]
struct Opts<'w> {
    /// Options as written and split: `-rf` → `-r`, `-f`; `--x=v` → `--x`.
    flags: Vec<(String, Option<String>)>,
    operands: Vec<&'w Word>,
    /// Words whose value is unknown and that could be options.
    unknown: Vec<&'w Word>,
}

/// Whether an option as written is `name`: equal, or for long options an
/// abbreviation (GNU getopt_long, git and wget take any unambiguous prefix:
/// `--rec` is `--recursive`). A prefix that is ambiguous for the program is
/// rejected by it, so reading it as `name` never lets anything through.
fn flag_is(written: &str, name: &str) -> bool {
    written == name || (written.len() > 2 && written.starts_with("--") && name.starts_with("--") && name.starts_with(written))
}

impl Opts<'_> {
    fn has(&self, names: &[&str]) -> bool {
        self.flags.iter().any(|(f, _)| names.iter().any(|n| flag_is(f, n)))
    }

    fn value(&self, names: &[&str]) -> Option<&str> {
        self.flags.iter().find(|(f, v)| v.is_some() && names.iter().any(|n| flag_is(f, n))).and_then(|(_, v)| v.as_deref())
    }

    fn values<'s>(&'s self, names: &'s [&'s str]) -> impl Iterator<Item = &'s str> + 's {
        self.flags.iter().filter(move |(f, _)| names.iter().any(|n| flag_is(f, n))).filter_map(|(_, v)| v.as_deref())
    }

    fn lits(&self) -> Vec<&str> {
        self.operands.iter().filter_map(|w| w.val()).collect()
    }
}

/// Reads `words` (no program) as GNU-style options: permuted (options
/// after operands count), `--` ends them. `short_val` / `long_val` list
/// the options that take a value; an abbreviated long option (`--meth`)
/// is read as the one of `long_val` it abbreviates.
fn opts<'w>(words: &'w [Word], short_val: &str, long_val: &[&str]) -> Opts<'w> {
    opts_with(words, short_val, "", long_val)
}

/// [`opts`], where the short options in `attached` take a value only when
/// it is attached (`mysql -pSECRET`; a lone `-p` prompts and takes none).
fn opts_with<'w>(words: &'w [Word], short_val: &str, attached: &str, long_val: &[&str]) -> Opts<'w> {
    let mut o = Opts::default();
    let mut i = 0;
    let mut ended = false;
    while i < words.len() {
        let w = &words[i];
        i += 1;
        let Some(v) = w.val() else {
            if ended {
                o.operands.push(w)
            } else {
                o.unknown.push(w)
            }
            continue;
        };
        if ended || v == "-" || !v.starts_with('-') {
            o.operands.push(w);
            continue;
        }
        if w.glob {
            o.unknown.push(w);
            continue;
        }
        if v == "--" {
            ended = true;
            continue;
        }
        if let Some(long) = v.strip_prefix("--") {
            let (name, val) = match long.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_owned())),
                None => (v.to_owned(), None),
            };
            let name = if long_val.contains(&name.as_str()) {
                name
            } else {
                let mut full = long_val.iter().filter(|l| flag_is(&name, l));
                match (full.next(), full.next()) {
                    (Some(l), None) => (*l).to_owned(),
                    _ => name,
                }
            };
            let val = if val.is_none() && long_val.contains(&name.as_str()) {
                let next = words.get(i);
                i += 1;
                next.map(|n| n.val().map(str::to_owned).unwrap_or_else(|| "\u{0}unknown".to_owned()))
            } else {
                val
            };
            o.flags.push((name, val));
            continue;
        }
        let chars: Vec<char> = v[1..].chars().collect();
        let mut k = 0;
        while k < chars.len() {
            let c = chars[k];
            k += 1;
            if attached.contains(c) {
                let rest: String = chars[k..].iter().collect();
                o.flags.push((format!("-{c}"), (!rest.is_empty()).then_some(rest)));
                break;
            }
            if short_val.contains(c) {
                let rest: String = chars[k..].iter().collect();
                let val = if !rest.is_empty() {
                    Some(rest)
                } else {
                    let next = words.get(i);
                    i += 1;
                    next.map(|n| n.val().map(str::to_owned).unwrap_or_else(|| "\u{0}unknown".to_owned()))
                };
                o.flags.push((format!("-{c}"), val));
                break;
            }
            o.flags.push((format!("-{c}"), None));
        }
    }
    o
}

/// A value that came from a word whose value is unknown.
/// The URLs a curl URL glob stands for: `{a,b}` alternatives expanded
/// (up to a bound); a `[1-3]`/`[a-z]` range in the host makes it unknown.
fn curl_globs(u: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![u.to_owned()];
    while let Some(u) = todo.pop() {
        if out.len() + todo.len() > 64 {
            return vec!["\u{0}unknown".to_owned()];
        }
        if let Some(i) = u.find('{')
            && let Some(j) = u[i..].find('}')
        {
            for alt in u[i + 1..i + j].split(',') {
                todo.push(format!("{}{alt}{}", &u[..i], &u[i + j + 1..]));
            }
            continue;
        }
        let host_end = u.find("://").map_or(0, |k| k + 3);
        let host = u[host_end..].split('/').next().unwrap_or("");
        if host.contains('[') && host.contains('-') {
            out.push("\u{0}unknown".to_owned());
        } else {
            out.push(u);
        }
    }
    out
}

fn unknown_value(v: &str) -> bool {
    v.starts_with('\u{0}')
}

/// Classifies calls into findings.
pub(crate) struct Classifier<'a> {
    gate: &'a Gate,
    env: Env<'a>,
    probe: Option<&'a dyn Probe>,
    /// The working directory: the call's, then where `cd`/`pushd` went.
    cwd: Option<PathBuf>,
    out: Vec<Finding>,
    assigned: HashSet<String>,
    depth: u32,
    /// The span of the outermost command being classified.
    span: Range<usize>,
    /// Length of the checked text (spans are clamped to it).
    len: usize,
    /// Inside a command run once per item (`xargs`, `find -exec`, `fd -x`,
    /// `parallel`): the rule a deleting program there falls under, through
    /// any wrappers (`xargs sudo rm`).
    bulk: Option<&'static str>,
    /// The command being classified gets operands added at run time
    /// (`xargs rm -rf ./build`, `find -exec … +`, `fd -X`): its normalised
    /// form ends with ` …` so an allow rule does not cover what is added.
    appends: bool,
    /// Standard input of the command being classified: a script nested in
    /// it (`ssh HOST bash`, `sh -c 'sh'`) reads the same input.
    stdin: Stdin,
    /// Files this call writes before it may run them (`echo … > x.sh; sh
    /// x.sh`), by normalised path: their text when it is known before the
    /// run, `None` when it comes from elsewhere (`curl -o x.sh`).
    written: HashMap<String, Option<String>>,
    /// Names and paths this call makes another program answer to (`hash -p
    /// /bin/rm ls`, `ln -s /bin/rm ./x`, `cp /bin/rm x`): name or path key
    /// → the program it runs.
    aliases: HashMap<String, String>,
    /// Paths this call links to a storage device (`ln -s /dev/sda disk`):
    /// path key → the device.
    device_links: HashMap<String, String>,
    /// Git aliases this call defines (`git -c alias.x='reset --hard'`,
    /// `git config alias.x …`): name → expansion.
    git_aliases: HashMap<String, String>,
    /// Shell aliases this script defines with words after the program
    /// (`alias r='rm -rf'`): name → expansion. (One-word aliases go to
    /// `aliases`.)
    shell_aliases: HashMap<String, String>,
    /// Folders the script may be in besides `cwd`: where a `cd` that may
    /// not run (in a branch, a subshell, after `&&`) would have taken it.
    maybe_cwd: Vec<PathBuf>,
    /// Programs being classified inside one another (`nice nice … rm`),
    /// across nested scripts too: bounded by [`MAX_CHAIN`].
    chain: u32,
}

/// Deepest chain of wrappers (and nested scripts' wrappers) classified;
/// deeper asks. Each level is a few frames of the classifier's stack.
const MAX_CHAIN: u32 = 48;

impl<'a> Classifier<'a> {
    pub fn new(gate: &'a Gate, env: Env<'a>, probe: Option<&'a dyn Probe>, cwd: Option<&'a Path>) -> Self {
        Classifier {
            gate,
            env,
            probe,
            cwd: cwd.map(Path::to_path_buf),
            out: Vec::new(),
            assigned: HashSet::new(),
            depth: 0,
            span: 0..0,
            len: 0,
            bulk: None,
            appends: false,
            stdin: Stdin::Inherited,
            written: HashMap::new(),
            aliases: HashMap::new(),
            device_links: HashMap::new(),
            git_aliases: HashMap::new(),
            shell_aliases: HashMap::new(),
            maybe_cwd: Vec::new(),
            chain: 0,
        }
    }

    pub fn finish(self) -> Vec<Finding> {
        let mut seen = HashSet::new();
        self.out.into_iter().filter(|f| seen.insert((f.rule.clone(), f.command.clone(), f.span))).collect()
    }

    /// A top-level `/bin/sh -c` script (with its stdin, which it does not
    /// read as a script: `sh -c` takes its commands from the argument).
    pub fn script(&mut self, text: &str, outer: Option<Range<usize>>, stdin: Option<&str>) {
        self.script_with(text, outer, stdin.map(|t| Stdin::Text(t.to_owned())).unwrap_or_default());
    }

    /// A script whose commands read `stdin` unless they redirect it.
    fn script_with(&mut self, text: &str, outer: Option<Range<usize>>, stdin: Stdin) {
        if outer.is_none() {
            self.len = text.len();
        }
        let s = shell::read(text, self.env, &self.assigned, outer, self.depth);
        self.assigned.extend(s.assigned.iter().cloned());
        for o in &s.opaque {
            self.push(
                Category::Unknown,
                "cannot be parsed",
                o.text.clone(),
                format!("cannot tell what it runs: {}", o.why),
                o.span.clone(),
            );
        }
        for mut c in s.cmds {
            if matches!(c.stdin, Stdin::Inherited) {
                c.stdin = stdin.clone();
            }
            self.cmd(&c);
        }
    }

    /// A program run directly with its arguments.
    pub fn argv_call(&mut self, argv: &[String], len: usize, stdin: Option<&str>) {
        self.len = len;
        let words: Vec<Word> = argv.iter().map(|a| Word::literal(a)).collect();
        let c = Cmd {
            words,
            assigns: Vec::new(),
            redirs: Vec::new(),
            stdin: stdin.map(|t| Stdin::Text(t.to_owned())).unwrap_or_default(),
            span: 0..len,
            in_loop: false,
            top: true,
        };
        self.cmd(&c);
    }

    fn push(&mut self, category: Category, rule: &str, command: String, why: String, span: Range<usize>) {
        let (a, b) = crate::clamp(&span, self.len);
        self.out.push(Finding { category, rule: rule.to_owned(), command, why, span: (b > a).then_some((a, b)) });
    }

    fn hit(&mut self, category: Category, rule: &str, words: &[Word], why: impl Into<String>) {
        let mut cmd = normalised(words);
        if self.appends {
            cmd.push_str(" …");
        }
        self.push(category, rule, cmd, why.into(), self.span.clone());
    }

    fn cmd(&mut self, c: &Cmd) {
        let saved = std::mem::replace(&mut self.span, c.span.clone());
        let saved_stdin = std::mem::replace(&mut self.stdin, c.stdin.clone());
        for (name, value) in &c.assigns {
            self.assignment(name, value, &c.words);
        }
        for r in &c.redirs {
            self.redirect(r, c);
        }
        self.argv(&c.words, c);
        self.remember_writes(c);
        self.follow_cd(&c.words, c.top);
        self.stdin = saved_stdin;
        self.span = saved;
    }

    /// The call's own variables (`env = { … }` of an `exec` step): one that
    /// a program runs as a command line is checked as that command;
    /// `BASH_ENV` / `ENV` make a shell source a file, which the gate cannot
    /// read.
    pub fn call_env(&mut self, env: &[(String, String)], len: usize) {
        self.len = self.len.max(len);
        let saved = std::mem::replace(&mut self.span, 0..len);
        for (k, v) in env {
            if COMMAND_VARIABLES.contains(&k.as_str()) {
                self.nested_checked(v);
            } else if matches!(k.as_str(), "BASH_ENV" | "ENV") && !v.is_empty() {
                self.push(
                    Category::Unknown,
                    "source",
                    format!("{k}={v}"),
                    format!("`{k}` makes the shell run the file `{v}` first: cannot tell what it runs"),
                    0..len,
                );
            }
        }
        self.span = saved;
    }

    /// A variable set for a command (or for the rest of the script) that
    /// some programs run as a command line: `GIT_SSH_COMMAND='…' git
    /// fetch`, `PAGER=… git log`, `EDITOR=… crontab -e`.
    fn assignment(&mut self, name: &str, value: &Word, words: &[Word]) {
        match (name, value.val()) {
            // A shell started later sources the file first; one this call wrote is read, any other cannot be.
            ("BASH_ENV" | "ENV", Some(v)) if !v.is_empty() => {
                if !self.run_written(v, words, name) {
                    self.push(
                        Category::Unknown,
                        "source",
                        format!("{name}={v}"),
                        format!("`{name}` makes a shell run the file `{v}` first: cannot tell what it runs"),
                        self.span.clone(),
                    );
                }
                return;
            }
            // Options every later `tar` / `zip` takes as its own (`--to-command`, `--remove-files`, `-m`).
            ("TAR_OPTIONS", Some(v)) => return self.nested_checked(&format!("tar {v} -f /dev/null")),
            ("ZIPOPT", Some(v)) => return self.nested_checked(&format!("zip {v} /dev/null")),
            _ => {}
        }
        if !COMMAND_VARIABLES.contains(&name) {
            return;
        }
        match value.val() {
            Some(v) => self.nested_checked(v),
            None => {
                let shown = if words.is_empty() { format!("{name}={}", value.raw) } else { normalised(words) };
                self.push(
                    Category::Unknown,
                    "expansion in arguments",
                    shown,
                    format!("cannot tell what `{name}` runs: `{}` is only known at run time", value.raw),
                    self.span.clone(),
                );
            }
        }
    }

    /// Files the command writes, and what into them (for a later `sh FILE`).
    fn remember_writes(&mut self, c: &Cmd) {
        let known = shell::output_of(c);
        for r in &c.redirs {
            let (RedirKind::Write | RedirKind::Append, Some(p)) = (r.kind, r.target.val()) else { continue };
            let Some(key) = self.path_key(p) else { continue };
            let text = match (r.kind, self.written.get(&key)) {
                (RedirKind::Append, Some(Some(before))) => known.as_ref().map(|k| format!("{before}{k}")),
                (RedirKind::Append, Some(None)) => None,
                _ => known.clone(),
            };
            self.written.insert(key, text);
        }
        let Some(prog) = c.words.first().and_then(|w| w.val()).map(normalise_program) else { return };
        let args = &c.words[1..];
        let files: Vec<(String, Option<String>)> = match prog.as_str() {
            "tee" => {
                let text = match &c.stdin {
                    Stdin::Text(t) => Some(t.clone()),
                    _ => None,
                };
                opts(args, "", &[]).lits().iter().map(|f| ((*f).to_owned(), text.clone())).collect()
            }
            "curl" => opts(args, "o", &["--output"]).values(&["-o", "--output"]).map(|f| (f.to_owned(), None)).collect(),
            "wget" => opts(args, "O", &["--output-document"]).values(&["-O", "--output-document"]).map(|f| (f.to_owned(), None)).collect(),
            "hash" => {
                let o = opts(args, "p", &[]);
                if let (Some(path), Some(n)) = (o.value(&["-p"]), o.lits().first()) {
                    self.aliases.insert((*n).to_owned(), normalise_program(path));
                }
                Vec::new()
            }
            "cp" | "mv" | "install" | "ln" => {
                let o = opts(args, "tSmog", &["--target-directory", "--suffix", "--mode", "--owner", "--group"]);
                let ops = o.lits();
                // A device linked under another name is still that device.
                if prog == "ln"
                    && let [src, dst] = ops.as_slice()
                    && let (Some(dev), Some(k)) = (self.device(src), self.path_key(dst))
                {
                    self.device_links.insert(k, dev);
                }
                // A program copied or linked under another name is still that program.
                if let [src, dst] = ops.as_slice()
                    && o.value(&["-t", "--target-directory"]).is_none()
                {
                    let program = normalise_program(src);
                    let dst_key = if self.is_dir(dst) || dst.ends_with('/') {
                        self.path_key(&format!("{}/{}", dst.trim_end_matches('/'), src.rsplit('/').next().unwrap_or(src)))
                    } else {
                        self.path_key(dst)
                    };
                    if let Some(k) = dst_key
                        && is_ruled(&program)
                    {
                        // Copied onto the search path, it answers to its bare name too (`tidy -rf /srv`).
                        if let Some((dir, base)) = k.rsplit_once('/')
                            && (dir.ends_with("/bin") || dir.ends_with("/sbin"))
                        {
                            self.aliases.insert(base.to_owned(), program.clone());
                        }
                        self.aliases.insert(k, program);
                    }
                }
                match ops.as_slice() {
                    [src, dst] if o.value(&["-t", "--target-directory"]).is_none() => {
                        let text = self.path_key(src).and_then(|k| self.written.get(&k).cloned());
                        // A file this call did not write keeps its unknown contents (the gate does not read files).
                        text.map(|t| vec![((*dst).to_owned(), t)]).unwrap_or_default()
                    }
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        };
        for (f, text) in files {
            if let Some(key) = self.path_key(&f) {
                self.written.insert(key, text);
            }
        }
    }

    /// The key a path is remembered by: absolute when the working directory
    /// is known, `.` and `..` and doubled slashes folded.
    fn path_key(&self, p: &str) -> Option<String> {
        if p.is_empty() || p.starts_with('~') || unknown_value(p) {
            return None;
        }
        let abs = match (p.starts_with('/'), self.cwd.as_deref().and_then(Path::to_str)) {
            (true, _) => p.to_owned(),
            (false, Some(cwd)) => format!("{cwd}/{p}"),
            (false, None) => format!("./{p}"),
        };
        let mut parts: Vec<&str> = Vec::new();
        for c in abs.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
        Some(if abs.starts_with('/') { format!("/{}", parts.join("/")) } else { parts.join("/") })
    }

    /// A script file this call itself writes, run by `sh FILE`, `. FILE`
    /// or as `./FILE`: read what was written into it, or ask when that is
    /// not known. Returns whether the file is one of those.
    fn run_written(&mut self, path: &str, words: &[Word], who: &str) -> bool {
        let Some(text) = self.path_key(path).and_then(|k| self.written.get(&k).cloned()) else { return false };
        match text {
            Some(t) => self.nested(&t),
            None => self.hit(
                Category::Unknown,
                "piped script",
                words,
                format!("`{who}` runs {path}, which this call fills from elsewhere: cannot tell what it runs"),
            ),
        }
        true
    }

    fn redirect(&mut self, r: &Redir, c: &Cmd) {
        if r.kind == RedirKind::Other {
            return;
        }
        let shown = format!("{} {} {}", normalised(&c.words), if r.kind == RedirKind::Append { ">>" } else { ">" }, r.target.raw);
        if let Some(p) = r.target.val()
            && let Some(host) = p.strip_prefix("/dev/tcp/").or_else(|| p.strip_prefix("/dev/udp/"))
        {
            // bash's network redirection: what the command prints is sent as is.
            if let Some(t) = shell::output_of(c) {
                self.raw_request(&t, host.split('/').next(), &c.words);
            }
            return;
        }
        // A shell profile given `export MEND_CONFIG=…`: every later Mend of that user under another config.
        if let Some(p) = r.target.val()
            && PROFILES.iter().any(|f| p.ends_with(f))
            && shell::output_of(c).is_some_and(|t| t.contains("MEND_") || t.contains("XDG_CONFIG_HOME") || t.contains("XDG_DATA_HOME"))
        {
            self.push(
                Category::Unknown,
                "Mend's own gate",
                shown.clone(),
                format!("sets Mend's config or data folder in {p}"),
                self.span.clone(),
            );
        }
        if let Some(p) = r.target.val()
            && (mend_own_file(p) || self.path_key(p).is_some_and(|k| mend_own_file(&k)))
        {
            self.push(Category::Unknown, "Mend's own gate", shown.clone(), format!("writes into Mend's own file {p}"), self.span.clone());
        }
        if let Some(p) = r.target.val()
            && self.path_key(p).and_then(|k| fold_path(&k)).is_some_and(|k| {
                k == "/proc/sysrq-trigger" || (k.starts_with("/sys/") && (k.ends_with("/delete") || k.ends_with("/remove")))
            })
        {
            self.push(
                Category::Destruction,
                "stop the system",
                shown.clone(),
                "a write to /proc/sysrq-trigger can power off or crash the machine".into(),
                self.span.clone(),
            );
        }
        match r.target.val() {
            Some(p) if let Some(dev) = self.device(p) => {
                self.push(Category::Destruction, "write to a device", shown, format!("writes over the device {dev}"), self.span.clone())
            }
            Some(p) if r.kind == RedirKind::Write && self.level_strict() && !p.starts_with("/dev/") && self.exists(p) => {
                self.push(Category::Overwrite, "overwrite a file", shown, format!("`>` replaces the existing file {p}"), self.span.clone())
            }
            None if self.level_strict() => self.push(
                Category::Unknown,
                "expansion in arguments",
                shown,
                format!("cannot tell which file `{}` writes over", r.target.raw),
                self.span.clone(),
            ),
            _ => {}
        }
    }

    fn level_strict(&self) -> bool {
        self.gate.level == Level::Strict
    }

    fn resolve(&self, p: &str) -> Option<PathBuf> {
        if p.starts_with('~') {
            return None;
        }
        let path = Path::new(p);
        Some(if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.cwd.as_ref().map(|c| c.join(path)).unwrap_or_else(|| path.to_path_buf())
        })
    }

    fn exists(&self, p: &str) -> bool {
        match (self.probe, self.resolve(p)) {
            (Some(probe), Some(path)) => probe.exists(&path),
            _ => true,
        }
    }

    /// Text sent to a server as is (`nc`, `/dev/tcp`): a Redis flush or an
    /// HTTP DELETE request line asks like the client forms would.
    fn raw_request(&mut self, text: &str, host: Option<&str>, words: &[Word]) {
        static FLUSH: std::sync::LazyLock<regex::Regex> =
            std::sync::LazyLock::new(|| regex::Regex::new(r"(?i)\bflush_?(all|db)\b").expect("static regex"));
        static DELETE: std::sync::LazyLock<regex::Regex> =
            std::sync::LazyLock::new(|| regex::Regex::new(r"(?m)^\s*DELETE\s+\S+\s+HTTP/").expect("static regex"));
        if FLUSH.is_match(text) {
            self.hit(Category::Database, "FLUSHALL/FLUSHDB", words, "sends a Redis FLUSHALL/FLUSHDB over a raw connection");
        }
        if DELETE.is_match(text) && host.is_none_or(|h| self.gate.delete_asks(&format!("http://{h}/"))) {
            self.hit(
                Category::HttpDelete,
                "HTTP DELETE",
                words,
                format!("sends an HTTP DELETE to {} over a raw connection", host.unwrap_or("a server")),
            );
        }
    }

    /// The storage device a path names, resolved against the working
    /// directory and normalised (`//dev/sda`, `/./dev/../dev/sda` and `sda`
    /// in `/dev` are all `/dev/sda`); `None` for anything else.
    fn device(&self, p: &str) -> Option<String> {
        let p = p.trim();
        // A relative path in a folder a conditional `cd` may have taken the script to.
        if !p.starts_with(['/', '~']) {
            for dir in &self.maybe_cwd {
                let k = fold_path(&format!("{}/{p}", dir.display())).unwrap_or_default();
                if let Some(dev) = self.device_links.get(&k).cloned().or_else(|| is_device(&k).then_some(k)) {
                    return Some(dev);
                }
            }
        }
        let home = p.strip_prefix('~').and_then(|rest| (self.env)("HOME").map(|h| format!("{h}{rest}")));
        let norm = self.path_key(home.as_deref().unwrap_or(p))?;
        let norm = fold_path(&norm).unwrap_or(norm);
        if let Some(dev) = self.device_links.get(&norm) {
            return Some(dev.clone());
        }
        is_device(&norm).then_some(norm)
    }

    fn is_dir(&self, p: &str) -> bool {
        match (self.probe, self.resolve(p)) {
            (Some(probe), Some(path)) => probe.is_dir(&path),
            _ => false,
        }
    }

    /// A nested script (`sh -c TEXT`, `ssh host TEXT`, `watch TEXT`), placed
    /// at the current command.
    fn nested(&mut self, text: &str) {
        let stdin = self.stdin.clone();
        self.nested_in(text, stdin);
    }

    /// A nested script whose commands read `stdin`.
    fn nested_in(&mut self, text: &str, stdin: Stdin) {
        if self.depth >= shell::MAX_DEPTH {
            self.push(
                Category::Unknown,
                "cannot be parsed",
                text.to_owned(),
                "scripts nested too deeply to follow".into(),
                self.span.clone(),
            );
            return;
        }
        self.depth += 1;
        let span = self.span.clone();
        self.script_with(text, Some(span), stdin);
        self.depth -= 1;
    }

    /// Classifies an argv (program first) that runs with `c`'s redirections
    /// and standard input.
    fn argv(&mut self, words: &[Word], c: &Cmd) {
        if self.chain >= MAX_CHAIN {
            self.hit(Category::Unknown, "cannot be parsed", words, "wrappers nested too deeply to follow");
            return;
        }
        self.chain += 1;
        // `env -C DIR CMD`, `sudo -D DIR CMD`, `nsenter --wd=DIR CMD`, `systemd-run --working-directory=DIR CMD`: CMD runs there.
        let chdir = system::wrapper_chdir(words);
        let saved = chdir.as_ref().map(|d| {
            let dir =
                if d.starts_with('/') || d.starts_with('~') { PathBuf::from(d) } else { self.cwd.clone().unwrap_or_default().join(d) };
            self.cwd.replace(dir)
        });
        self.argv_one(words, c);
        if let Some(saved) = saved {
            self.cwd = saved;
        }
        self.chain -= 1;
    }

    fn argv_one(&mut self, words: &[Word], c: &Cmd) {
        let Some(prog) = words.first() else { return };
        if self.depth > shell::MAX_DEPTH {
            return;
        }
        let Some(raw_name) = prog.val() else {
            self.hit(Category::Unknown, "program not a literal word", words, format!("cannot tell what `{}` runs", prog.raw));
            return;
        };
        if prog.glob {
            self.hit(
                Category::Unknown,
                "program not a literal word",
                words,
                format!("cannot tell which program the pattern `{}` names", prog.raw),
            );
            return;
        }
        if let Some(expansion) = self.shell_aliases.get(raw_name).cloned() {
            let rest: Vec<String> = words[1..].iter().map(|w| w.raw.clone()).collect();
            self.nested_checked(&format!("{expansion} {}", rest.join(" ")));
            return;
        }
        let aliased = if raw_name.contains('/') { self.path_key(raw_name) } else { Some(raw_name.to_owned()) };
        let name = match aliased.and_then(|k| self.aliases.get(&k)) {
            Some(target) => target.clone(),
            None => normalise_program(raw_name),
        };
        let name = canonical_name(name);
        let args = &words[1..];
        let before = self.out.len();
        if raw_name.contains('/') && self.run_written(raw_name, words, raw_name) {
            return;
        }
        if let Some(rule) = self.bulk
            && (matches!(name.as_str(), "rm" | "unlink" | "shred" | "rmdir" | "srm" | "truncate") || empties_files(&name, args))
        {
            self.hit(Category::BulkDeletion, rule, words, "deletes every file it is given");
            return;
        }
        // `find -exec chmod 000 {} +`, `xargs chown bob`: a permission change per input item, as with `-R`.
        // Modes that only add bits (`+x`, `u+rw`) take nothing away.
        let adds_only = |m: &str| {
            m.split(',')
                .all(|cl| cl.split_once('+').is_some_and(|(who, what)| who.chars().all(|ch| "ugoa".contains(ch)) && !what.is_empty()))
        };
        if self.bulk.is_some()
            && matches!(name.as_str(), "chmod" | "chown" | "chgrp" | "setfacl")
            && !(name == "chmod"
                && args.iter().filter_map(|w| w.val()).find(|v| !v.starts_with('-') || v.contains('+')).is_some_and(adds_only))
        {
            let rule = if name == "chmod" || name == "setfacl" { "chmod -R" } else { "chown -R" };
            self.hit(Category::Permissions, rule, words, format!("`{name}` changes every file it is given"));
            return;
        }
        if self.shell_on_stdin(&name, args, c) {
            return;
        }
        self.protected_paths(&name, words);
        // `--help` only prints (programs that pass their arguments on are not in the list).
        if help_only(&name, args) {
            return;
        }
        match name.as_str() {
            // Wrappers: check what they run.
            "sudo" => self.wrapper(args, c, SUDO_SHORT_VALUES, SUDO_LONG_VALUES, true),
            "doas" => self.wrapper(args, c, "uC", &[], true),
            "pkexec" => self.wrapper(args, c, "", &["--user"], false),
            "env" => self.env_wrapper(args, c),
            "nice" => self.wrapper(args, c, "n", &["--adjustment"], false),
            "nohup" | "setsid" | "unbuffer" | "chronic" | "catchsegv" | "fakeroot" | "builtin" | "nocache" => {
                self.wrapper(args, c, "", &[], false)
            }
            "timeout" => self.after_positional(args, c, "sk", &["--signal", "--kill-after"], 1),
            "time" => self.wrapper(args, c, "fo", &["--format", "--output"], false),
            "command" => {
                // `command -v NAME` only looks a name up; its options end at the command (`command chmod -vR …` runs chmod).
                let leading = args.iter().take_while(|w| w.val().is_some_and(|v| v.starts_with('-') && v != "--"));
                if !leading.filter_map(|w| w.val()).any(|v| v[1..].contains(['v', 'V'])) {
                    self.wrapper(args, c, "", &[], false);
                }
            }
            "exec" => self.wrapper(args, c, "a", &[], false),
            "stdbuf" => self.wrapper(args, c, "ioe", &["--input", "--output", "--error"], false),
            "ionice" => self.wrapper(args, c, "cnpPu", &["--class", "--classdata", "--pid", "--pgid", "--uid"], false),
            "chrt" => self.after_positional(args, c, "", &[], 1),
            "taskset" => self.after_positional(args, c, "", &[], 1),
            "caffeinate" => self.wrapper(args, c, "tw", &[], false),
            "strace" | "ltrace" => self.wrapper(args, c, "abeEIoOpPsSuUX", &["--output", "--trace", "--signal", "--user", "--env"], false),
            "valgrind" | "firejail" => self.wrapper(args, c, "", &[], false),
            "nsenter" => self.wrapper(args, c, "tSG", &["--target", "--setuid", "--setgid", "--user-parent", "--env"], false),
            "unshare" => self.wrapper(
                args,
                c,
                "RwSG",
                &[
                    "--root",
                    "--wd",
                    "--setuid",
                    "--setgid",
                    "--map-user",
                    "--map-group",
                    "--map-users",
                    "--map-groups",
                    "--propagation",
                    "--setgroups",
                ],
                false,
            ),
            "proot" => self.wrapper(args, c, "rbwqkm", &["--rootfs", "--bind", "--mount", "--cwd", "--qemu", "--kernel-release"], false),
            // Ex commands given on the command line: `!cmd`, `r !cmd`, `w !cmd` run a shell; functions may delete.
            "vim" | "vi" | "nvim" | "ex" | "view" | "gvim" | "vimdiff" => {
                // In Ex mode (`-e`, `-E`, `ex`) `-s` is silent mode and takes no script file.
                let ex_mode = name == "ex"
                    || args
                        .iter()
                        .filter_map(|w| w.val())
                        .any(|v| v.starts_with('-') && !v.starts_with("--") && v[1..].contains(['e', 'E']));
                let o = opts(args, if ex_mode { "cSTuUiwWrt" } else { "cSTuUiwWsrt" }, &["--cmd"]);
                let mut cmds: Vec<String> = o.values(&["-c", "--cmd"]).map(str::to_owned).collect();
                cmds.extend(args.iter().filter_map(|w| w.val()).filter_map(|v| v.strip_prefix('+')).map(str::to_owned));
                for cmd in cmds {
                    match ex_shell_command(&cmd) {
                        Some(sh) => self.nested_checked(&sh),
                        None if inline_code_acts(&cmd) => self.hit(
                            Category::Unknown,
                            "inline code",
                            words,
                            format!("the editor command `{cmd}` can run commands or delete files"),
                        ),
                        None => {}
                    }
                }
            }
            "systemd-run" => self.wrapper(
                args,
                c,
                "pEMuHS",
                &[
                    "--host",
                    "--on-active",
                    "--on-boot",
                    "--on-startup",
                    "--on-unit-active",
                    "--on-unit-inactive",
                    "--on-calendar",
                    "--on-clock-change",
                    "--timer-property",
                    "--path-property",
                    "--socket-property",
                    "--service-type",
                    "--property",
                    "--setenv",
                    "--machine",
                    "--unit",
                    "--uid",
                    "--gid",
                    "--nice",
                    "--working-directory",
                    "--description",
                    "--slice",
                ],
                false,
            ),
            "flock" => self.flock(args, c),
            "chroot" => self.after_positional(args, c, "", &["--userspec", "--groups"], 1),
            "runuser" | "su" => self.su(args, c),
            "script" => {
                let o = opts(args, "cEIOTB", &["--command", "--log-io", "--log-in", "--log-out", "--log-timing", "--echo"]);
                for cmd in o.values(&["-c", "--command"]).map(str::to_owned).collect::<Vec<_>>() {
                    self.nested_checked(&cmd);
                }
            }
            "xargs" => self.xargs(args, c),
            "parallel" => {
                let end = args.iter().position(|w| matches!(w.val(), Some(":::" | "::::" | ":::+" | "::::+"))).unwrap_or(args.len());
                let o = opts(&args[..end], "jSXI", &["--jobs", "--sshlogin", "--replace", "--delimiter", "--colsep"]);
                match o.operands.first() {
                    // One word with spaces is a command line for the shell (`parallel 'rm -rf {}' ::: a b`).
                    Some(first)
                        if end - args.iter().position(|w| std::ptr::eq(w, *first)).unwrap_or(0) == 1
                            && first.val().is_some_and(|v| v.contains(char::is_whitespace)) =>
                    {
                        let script = first.val().unwrap_or_default().to_owned();
                        let saved = self.bulk.replace("xargs rm");
                        self.nested(&script);
                        self.bulk = saved;
                    }
                    Some(first) => {
                        let at = args.iter().position(|w| std::ptr::eq(w, *first)).unwrap_or(0);
                        self.bulk_inner(&args[at..end], c, "xargs rm", None);
                    }
                    // No command: each input after `:::` is a command line.
                    None => {
                        let inputs: Vec<String> =
                            args[end..].iter().filter_map(|w| w.val()).filter(|v| !v.starts_with(":::")).map(str::to_owned).collect();
                        let saved = self.bulk.replace("xargs rm");
                        for cmd in inputs {
                            self.nested(&cmd);
                        }
                        self.bulk = saved;
                    }
                }
            }
            "busybox" | "toybox" => self.argv(args, c),
            "coreutils" => match args.first().and_then(|w| w.val()).and_then(|v| v.strip_prefix("--coreutils-prog=")) {
                Some(p) => {
                    let mut inner = vec![Word::literal(p)];
                    inner.extend(args[1..].iter().cloned());
                    self.argv(&inner, c);
                }
                None => self.argv(args, c),
            },
            "watch" => {
                let o = opts(args, "nq", &["--interval", "--equexit"]);
                let exec = o.has(&["-x", "--exec"]);
                if let Some(first) = o.operands.first() {
                    let at = args.iter().position(|w| std::ptr::eq(w, *first)).unwrap_or(0);
                    if exec {
                        self.argv(&args[at..], c);
                    } else {
                        self.shell_text(&args[at..], c);
                    }
                }
            }
            "ssh" => {
                let o = opts(args, "BbcDEeFIiJLlmOopPQRSWw", &[]);
                // `-o ProxyCommand=CMD` (and LocalCommand, KnownHostsCommand, RemoteCommand) run a command line.
                for v in o.values(&["-o"]).map(str::to_owned).collect::<Vec<_>>() {
                    let v = v.trim_start();
                    let split = v.find(|ch: char| ch == '=' || ch.is_whitespace()).unwrap_or(v.len());
                    let (key, val) = v.split_at(split);
                    let val = val.trim_start_matches(|ch: char| ch == '=' || ch.is_whitespace());
                    if ["proxycommand", "localcommand", "knownhostscommand", "remotecommand"].contains(&key.to_ascii_lowercase().as_str()) {
                        self.nested_checked(val);
                    }
                }
                if o.operands.len() > 1 {
                    let at = args.iter().position(|w| std::ptr::eq(w, o.operands[1])).unwrap_or(0);
                    self.shell_text(&args[at..], c);
                } else if o.operands.len() == 1 {
                    // `ssh host` runs what arrives on its standard input.
                    self.stdin_script(c, "ssh");
                }
            }
            "eval" => self.hit(Category::Unknown, "eval", words, "`eval` runs a string built at run time: cannot tell what it runs"),
            "source" | "." => {
                let file = args.first().and_then(|w| w.val()).unwrap_or("");
                if !self.run_written(file, words, &name) {
                    self.hit(Category::Unknown, "source", words, format!("`{name}` runs a script file: cannot tell what it runs"));
                }
            }
            // Variables exported for the rest of the script.
            "export" | "declare" | "typeset" | "local" | "readonly" => {
                for w in args {
                    if let Some((n, v)) = w.val().and_then(|v| v.split_once('=')) {
                        self.assignment(n, &Word::literal(v), words);
                    }
                }
            }
            // `at`/`batch` run their standard input later, as a shell script.
            "at" | "batch" => {
                let o = opts(args, "fqtm", &[]);
                if !o.has(&["-f", "-l", "-r", "-d", "-c"]) || o.value(&["-f"]).is_some_and(stdin_path) {
                    self.stdin_script(c, &name);
                } else if o.value(&["-f"]).is_some_and(unknown_value) || args.iter().any(|w| w.val().is_none()) {
                    self.hit(Category::Unknown, "piped script", words, "`at -f` reads a job from what cannot be known before it runs");
                }
            }
            // `crontab -` installs the table on standard input: each line's command runs later.
            "crontab" => {
                let o = opts(args, "u", &[]);
                if o.has(&["-r", "--remove"]) {
                    self.hit(Category::BulkDeletion, "crontab -r", words, "deletes the whole crontab");
                }
                let empty_stdin = matches!(&c.stdin, Stdin::Text(t) if t.trim().is_empty());
                if (o.lits().first().is_some_and(|f| matches!(*f, "/dev/null"))
                    || (empty_stdin && o.lits().first().is_some_and(|f| stdin_path(f))))
                    && !o.has(&["-l"])
                {
                    self.hit(Category::BulkDeletion, "crontab -r", words, "replaces the whole crontab with an empty one");
                }
                if !o.unknown.is_empty() || o.operands.first().is_some_and(|w| w.val().is_none_or(unknown_value)) {
                    self.hit(
                        Category::Unknown,
                        "piped script",
                        words,
                        "`crontab` installs a table from what cannot be known before it runs",
                    );
                }
                if o.lits().first().is_some_and(|f| stdin_path(f)) || (o.operands.is_empty() && o.flags.is_empty()) {
                    self.stdin_lines(c, &name, crontab_command);
                }
            }
            // `make -f -` reads its makefile from standard input: the recipes run.
            "make" | "gmake" => {
                let o = opts(args, "fCIjlEoW", &["--file", "--makefile", "--directory", "--include-dir", "--jobs", "--load-average"]);
                if o.values(&["-f", "--file", "--makefile"]).any(stdin_path) {
                    self.stdin_lines(c, &name, make_recipe);
                }
                if o.values(&["-f", "--file", "--makefile"]).any(unknown_value) {
                    self.hit(Category::Unknown, "piped script", words, "the makefile comes from what cannot be known before it runs");
                }
                // `make --eval='x: ; CMD' x`: the text is read as makefile lines.
                for text in args.iter().filter_map(|w| w.val()).filter_map(|v| v.strip_prefix("--eval=")) {
                    for line in text.lines() {
                        if let Some(recipe) = make_recipe(line) {
                            self.nested_checked(&recipe);
                        }
                    }
                }
            }
            "alias" => {
                for w in args {
                    if let Some((n, v)) = w.val().and_then(|v| v.split_once('=')) {
                        self.nested_checked(v);
                        // dash expands aliases in `sh -c` scripts: a later `n …` runs `v …`.
                        match v.trim().split_once(char::is_whitespace) {
                            None if !v.trim().is_empty() => {
                                self.aliases.insert(n.to_owned(), normalise_program(v.trim()));
                            }
                            Some(_) => {
                                self.shell_aliases.insert(n.to_owned(), v.trim().to_owned());
                            }
                            None => {}
                        }
                    }
                }
            }
            "trap" => {
                if let Some(action) = args.iter().find(|w| w.val().is_none_or(|v| !v.starts_with('-'))) {
                    match action.val() {
                        Some(v) => self.nested_checked(v),
                        None => self.hit(
                            Category::Unknown,
                            "expansion in arguments",
                            words,
                            format!("cannot tell what the trap `{}` runs", action.raw),
                        ),
                    }
                }
            }
            n if SHELLS.contains(&n) => self.shell(args, c, n),
            n if is_interpreter(n) => self.interpreter(n, args, c, words),
            // Rules by meaning.
            "rm" => self.rm(words, c, false),
            "unlink" => {
                // `unlink "$f"` in a loop, `unlink d/*`: a set of files known only at run time, as for `rm`.
                if args.iter().any(|w| w.glob || (c.in_loop && w.val().is_none())) {
                    self.hit(Category::BulkDeletion, "rm glob", words, "deletes a file on every pass of a loop, or every match");
                } else if self.level_strict() {
                    self.hit(Category::Overwrite, "rm a file", words, "deletes a file");
                }
            }
            "shred" | "srm" | "wipe" => {
                self.hit(Category::Destruction, "shred", words, format!("`{name}` overwrites files so they cannot be recovered"))
            }
            "find" => self.find(words, c),
            "fd" | "fdfind" => {
                // `-x CMD…` / `-X CMD…` run CMD per match (or per batch), up to a `;`.
                // Also in a cluster (`-HIx rm`) and attached (`--exec=rm`).
                let at = args.iter().position(|w| {
                    w.val().is_some_and(|v| {
                        matches!(v, "-x" | "--exec" | "-X" | "--exec-batch")
                            || v.starts_with("--exec=")
                            || v.starts_with("--exec-batch=")
                            || (v.starts_with('-')
                                && !v.starts_with("--")
                                && v.len() > 2
                                && (v.ends_with('x') || v.ends_with('X'))
                                && v[1..].chars().all(|c| c.is_ascii_alphabetic()))
                    })
                });
                if let Some(at) = at {
                    let attached: Vec<Word> =
                        args[at].val().and_then(|v| v.split_once('=')).map(|(_, cmd)| Word::literal(cmd)).into_iter().collect();
                    let rest: Vec<Word> = attached.into_iter().chain(args[at + 1..].iter().cloned()).collect();
                    let rest = &rest[..];
                    let end = rest.iter().position(|w| w.val() == Some(";")).unwrap_or(rest.len());
                    if end > 0 {
                        self.bulk_inner(&rest[..end], c, "find -exec rm", Some("{}"));
                    }
                }
            }
            "git" => self.git(words, c),
            "rsync" => {
                let o = opts(
                    args,
                    "eBfT",
                    &[
                        "--rsh",
                        "--filter",
                        "--exclude",
                        "--include",
                        "--temp-dir",
                        "--rsync-path",
                        "--backup-dir",
                        "--suffix",
                        "--log-file",
                        "--password-file",
                    ],
                );
                // The remote shell (`-e CMD`) and the remote rsync (`--rsync-path=CMD`) are command lines.
                for cmd in o.values(&["-e", "--rsh", "--rsync-path"]).map(str::to_owned).collect::<Vec<_>>() {
                    self.nested_checked(&cmd);
                }
                let dry = o.has(&["-n", "--dry-run"]);
                if !dry && o.flags.iter().any(|(f, _)| f.starts_with("--del") || f == "--remove-source-files" || f == "--remove-sent-files")
                {
                    self.hit(Category::BulkDeletion, "rsync --delete", words, "deletes files at the destination (or the sources)");
                }
                self.blanket(&o, words);
            }
            "chmod" | "chown" | "chgrp" | "setfacl" | "chattr" | "chcon" => {
                let o = opts(args, "t", &["--reference", "--from", "--type"]);
                // A pattern of files (`chmod 000 /etc/*`) or the root itself changes as much as `-R`.
                let only_adds = name == "chmod" && o.lits().first().is_some_and(|m| adds_only(m));
                // (A mode or an owner is never a pattern nor `/`.)
                let many = !only_adds && o.operands.iter().any(|w| w.glob || w.val() == Some("/"));
                if o.has(&["-R", "--recursive"]) || many {
                    let rule = if name == "chmod" || name == "setfacl" { "chmod -R" } else { "chown -R" };
                    self.hit(Category::Permissions, rule, words, format!("`{name}` changes a whole tree"));
                }
                self.blanket(&o, words);
            }
            "dd" => self.dd(words),
            // Emptying every file of a pattern is deleting their contents (`truncate -s 0 dir/*`, `sed -i d *.conf`, `tee dir/* < /dev/null`).
            n if (n == "truncate" || n == "tee" || empties_files(n, args)) && args.iter().any(|w| w.glob) => {
                self.hit(Category::BulkDeletion, "rm glob", words, format!("`{n}` empties every file the pattern matches"))
            }
            // `-n`: only says what it would do (mke2fs, mkfs.ext*).
            n if (n.starts_with("mkfs.ext") || n == "mke2fs") && args.iter().any(|w| w.val() == Some("-n")) => {}
            n if n.starts_with("mkfs") || matches!(n, "mke2fs" | "mkswap" | "mkdosfs" | "mkntfs" | "mkexfatfs") => {
                // An image file (`mkfs.ext4 disk.img`) holds nothing yet at the standard level; a device, or what cannot be told, asks.
                let image_only = !self.level_strict()
                    && args.iter().all(|w| w.val().is_some() && !w.glob)
                    && args.iter().filter_map(|w| w.val()).any(|v| !v.starts_with('-'))
                    && args.iter().filter_map(|w| w.val()).all(|v| v.starts_with('-') || (self.device(v).is_none() && !v.contains("/dev")));
                if !image_only {
                    self.hit(Category::Destruction, "mkfs", words, "makes a new file system, erasing what was there")
                }
            }
            "wipefs" => {
                let o = opts(args, "ot", &["--offset", "--types"]);
                if o.has(&["-a", "--all", "-o", "--offset"]) {
                    self.hit(Category::Destruction, "wipefs", words, "erases file-system signatures");
                }
                self.blanket(&o, words);
            }
            "blkdiscard" => self.hit(Category::Destruction, "blkdiscard", words, "discards every block of a device"),
            "nvme" if args.first().and_then(|w| w.val()).is_some_and(|v| matches!(v, "format" | "sanitize")) => {
                self.hit(Category::Destruction, "blkdiscard", words, "erases a whole NVMe device")
            }
            "hdparm"
                if args.iter().filter_map(|w| w.val()).any(|v| {
                    v.starts_with("--security-erase")
                        || v.starts_with("--trim-sector-ranges")
                        || v.starts_with("--sanitize")
                        || v.starts_with("--write-sector")
                        || v.starts_with("--make-bad-sector")
                }) =>
            {
                self.hit(Category::Destruction, "blkdiscard", words, "erases a whole disk")
            }
            "badblocks" if opts(args, "bcdeiopt", &[]).has(&["-w"]) => {
                self.hit(Category::Destruction, "blkdiscard", words, "overwrites a whole device with test patterns")
            }
            // Restores that drop what is there first.
            "pg_restore" => {
                let o = opts(
                    args,
                    "dfFIjLnNPSTtUhpW",
                    &[
                        "--dbname",
                        "--file",
                        "--format",
                        "--index",
                        "--jobs",
                        "--use-list",
                        "--schema",
                        "--host",
                        "--port",
                        "--username",
                        "--role",
                        "--table",
                        "--trigger",
                        "--function",
                        "--section",
                    ],
                );
                if o.has(&["-c", "--clean"]) && o.has(&["-d", "--dbname"]) {
                    self.hit(Category::Database, "DROP", words, "`pg_restore --clean` drops the objects it restores, with their data");
                }
            }
            "mongorestore" if opts(args, "", &[]).has(&["--drop"]) => {
                self.hit(Category::Database, "mongo drop", words, "`mongorestore --drop` drops each collection before restoring it")
            }
            // Package runners: what they run is a program like any other.
            "npx" | "bunx" => {
                // `npx -c 'rm -rf build'`: the string runs in a shell (red team).
                for cmd in opts(args, "pc", &["--package", "--call", "--cache", "--registry"])
                    .values(&["-c", "--call"])
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
                {
                    self.nested_checked(&cmd);
                }
                self.wrapper(args, c, "pc", &["--package", "--call", "--cache", "--registry"], false)
            }
            "npm" | "pnpm" | "yarn" | "bun" | "bundle" | "poetry" | "pipenv" | "uv" | "pdm" | "rye" | "hatch"
                if args.first().and_then(|w| w.val()).is_some_and(|v| matches!(v, "exec" | "x" | "dlx" | "run"))
                    && !(matches!(name.as_str(), "npm" | "pnpm" | "yarn" | "bun") && args[0].val() == Some("run")) =>
            {
                // `npm exec -c 'rm -rf build'`: the string runs in a shell (red team).
                for cmd in opts(&args[1..], "pcw", &["--package", "--call", "--with"])
                    .values(&["-c", "--call"])
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
                {
                    self.nested_checked(&cmd);
                }
                // `npm exec -- X`, `pnpm dlx X`, `bundle exec X`, `poetry run X`, `uv run X` (`npm run` runs package.json scripts, not read).
                self.wrapper(
                    &args[1..],
                    c,
                    "pcw",
                    &[
                        "--package",
                        "--call",
                        "--with",
                        "--python",
                        "--env-file",
                        "--directory",
                        "--project",
                        "--extra",
                        "--group",
                        "--from",
                        "--workspace",
                        "--filter",
                    ],
                    false,
                )
            }
            "rimraf" | "del-cli" | "premove" | "trash-empty" => {
                self.hit(Category::BulkDeletion, "rm -r", words, format!("`{name}` deletes whole directory trees"))
            }
            "prisma" | "rails" | "rake" | "django-admin" | "supabase" | "artisan" => match framework_teardown(words) {
                Some(why) => self.hit(Category::Database, "dropdb", words, why),
                None => self.catch_all(&name, words),
            },
            // Raw protocol over a socket: what is sent may be a Redis FLUSHALL or an HTTP DELETE.
            "nc" | "ncat" | "netcat" | "socat" | "telnet" => {
                if let Stdin::Text(t) = &c.stdin {
                    let host = match name.as_str() {
                        "socat" => args.iter().filter_map(|w| w.val()).find_map(|v| {
                            let l = v.to_ascii_lowercase();
                            (l.starts_with("tcp") || l.starts_with("openssl")).then(|| v.split(':').nth(1).unwrap_or("").to_owned())
                        }),
                        _ => opts(args, "pswiIOqTXxe", &[]).lits().first().map(|h| (*h).to_owned()),
                    };
                    let t = t.clone();
                    self.raw_request(&t, host.as_deref(), words);
                }
                // Their command execution (`nc -c CMD`, `socat - EXEC:CMD`).
                self.system(name.as_str(), words, c);
            }
            "sgdisk" | "sfdisk" | "parted" => {
                let lits: Vec<&str> = args.iter().filter_map(|w| w.val()).collect();
                let destroys = match name.as_str() {
                    "sgdisk" => lits.iter().any(|a| {
                        a.starts_with("--zap")
                            || a.starts_with("--clear")
                            || a.starts_with("--delete")
                            || a.starts_with("-Z")
                            || a.starts_with("-z")
                            || a.starts_with("-o")
                            || a.starts_with("-d")
                            || a.starts_with("--load-backup")
                            || a.starts_with("--replicate")
                            || a.starts_with("-R")
                            || a.starts_with("-l")
                            // A cluster (`-vZ`): popt reads each letter.
                            || (a.starts_with('-') && !a.starts_with("--") && a[1..].contains(['Z', 'z', 'o']))
                    }),
                    "sfdisk" => !lits.iter().any(|a| {
                        matches!(
                            *a,
                            "-l" | "--list"
                                | "-d"
                                | "--dump"
                                | "-s"
                                | "--show-size"
                                | "-V"
                                | "--verify"
                                | "-J"
                                | "--json"
                                | "--help"
                                | "--version"
                        )
                    }),
                    // parted splits one argument into its words (`'mklabel gpt'`); resizing may cut a file system short.
                    _ => lits
                        .iter()
                        .flat_map(|a| a.split_whitespace())
                        .any(|a| matches!(a, "mklabel" | "mktable" | "rm" | "resizepart" | "resize")),
                };
                if destroys {
                    self.hit(Category::Destruction, "partition table", words, "rewrites a partition table");
                }
            }
            // Interactive partitioners: anything but listing can write a table (they read their commands from stdin).
            "fdisk" | "gdisk" | "cfdisk" | "cgdisk" => {
                let o = opts(
                    args,
                    "bcCHSLtuo",
                    &[
                        "--sector-size",
                        "--compatibility",
                        "--cylinders",
                        "--heads",
                        "--sectors",
                        "--type",
                        "--units",
                        "--output",
                        "--color",
                        "--wipe",
                        "--wipe-partitions",
                    ],
                );
                let lists = o.has(&["-l", "--list", "-h", "--help", "-V", "--version", "-s", "--getsz"]);
                if !lists && !o.operands.is_empty() {
                    self.hit(Category::Destruction, "partition table", words, "can rewrite a partition table");
                }
            }
            "lvremove" | "vgremove" | "pvremove" => self.hit(Category::Destruction, "volume removal", words, "removes a storage volume"),
            "zpool" | "zfs" if args.iter().any(|w| w.val() == Some("destroy")) => {
                self.hit(Category::Destruction, "volume removal", words, "destroys a storage pool or data set")
            }
            "cryptsetup" if args.iter().any(|w| matches!(w.val(), Some("luksFormat" | "erase" | "luksErase"))) => {
                self.hit(Category::Destruction, "volume removal", words, "erases an encrypted volume's keys")
            }
            "dropdb" => self.hit(Category::Database, "dropdb", words, "drops a PostgreSQL database"),
            "mysqladmin" if args.iter().any(|w| w.val().is_some_and(|v| v.eq_ignore_ascii_case("drop"))) => {
                self.hit(Category::Database, "dropdb", words, "drops a MySQL database")
            }
            "psql" => self.sql_client(words, c, &PSQL),
            "mysql" | "mariadb" => self.sql_client(words, c, &MYSQL),
            "sqlite3" | "duckdb" => self.sql_client(words, c, &SQLITE),
            "clickhouse-client" | "snowsql" | "trino" | "cqlsh" | "sqlcmd" => self.sql_client(words, c, &QUERY_CLIENT),
            "clickhouse" | "cockroach" => {
                let sub = args.first().and_then(|w| w.val()).unwrap_or("");
                if matches!(sub, "client" | "sql") {
                    // `clickhouse client -q SQL`, `cockroach sql -e SQL`: both read as a `--query`/`--execute` client.
                    let mut inner = vec![Word::literal("clickhouse-client")];
                    inner.extend(args[1..].iter().cloned());
                    self.argv(&inner, c);
                }
            }
            "bq" => {
                if args.first().and_then(|w| w.val()) == Some("query") || args.iter().any(|w| w.val() == Some("query")) {
                    let o = opts(args, "", &[]);
                    let sql: Vec<String> = o.lits().iter().filter(|a| **a != "query").map(|s| (*s).to_owned()).collect();
                    self.sql_text(&sql.join(" "), words);
                }
                if args.iter().any(|w| w.val() == Some("rm")) {
                    self.hit(Category::Database, "DROP", words, "`bq rm` deletes a table or data set");
                }
                // `bq query --replace`, `bq cp -f|--force`, `bq load --replace`: the destination table's rows are replaced.
                let vals: Vec<&str> = args.iter().filter_map(|w| w.val()).collect();
                let replaces = vals.iter().any(|v| *v == "--replace" || *v == "--replace=true")
                    || (vals.contains(&"cp") && vals.iter().any(|v| matches!(*v, "-f" | "--force" | "--force=true")));
                if replaces {
                    self.hit(Category::Database, "DROP", words, "replaces a table's rows with new ones");
                }
            }
            "mongo" | "mongosh" => {
                let o = opts(args, "", &["--eval", "--host", "--port", "-u", "-p", "--username", "--password"]);
                let mut code: Vec<String> = o.values(&["--eval"]).map(str::to_owned).collect();
                if let Stdin::Text(t) = &c.stdin {
                    code.push(t.clone());
                }
                // `--file <(…)`: a script from another command's output.
                if !o.unknown.is_empty() || args.iter().any(|w| w.val().is_none()) {
                    self.hit(
                        Category::Unknown,
                        "piped script",
                        words,
                        format!("`{name}` runs a script that cannot be known before it runs"),
                    );
                }
                if code.iter().any(|t| mongo_destroys(t)) {
                    self.hit(Category::Database, "mongo drop", words, "drops or empties a MongoDB database or collection");
                }
                if matches!(c.stdin, Stdin::Unknown(_)) {
                    self.stdin_script(c, &name);
                }
            }
            "redis-cli" | "valkey-cli" | "keydb-cli" => {
                static FLUSH: std::sync::LazyLock<regex::Regex> =
                    std::sync::LazyLock::new(|| regex::Regex::new(r"(?i)\bflush_?(all|db)\b").expect("static regex"));
                // Also inside a Lua script (`EVAL "return redis.call('FLUSHALL')" 0`).
                let flushes = |s: &str| FLUSH.is_match(s);
                let from_stdin = matches!(&c.stdin, Stdin::Text(t) if flushes(t));
                let vals: Vec<String> = args.iter().filter_map(|w| w.val()).map(str::to_ascii_lowercase).collect();
                // A Lua script (`EVAL`, `FCALL`, `FUNCTION LOAD`) that deletes keys or builds its command at run time.
                static LUA: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
                    regex::Regex::new(r#"(?i)redis\.p?call\s*\(\s*(['"](del|unlink|flushall|flushdb|swapdb)['"]|[^'"\s])|\.\."#)
                        .expect("static regex")
                });
                let script = vals.iter().position(|v| matches!(v.as_str(), "eval" | "eval_ro" | "fcall" | "function")).is_some()
                    && args.iter().filter_map(|w| w.val()).any(|v| LUA.is_match(v));
                if script {
                    self.hit(Category::Database, "FLUSHALL/FLUSHDB", words, "a Lua script deletes keys or builds its command at run time");
                }
                if vals.windows(2).any(|p| matches!(p[0].as_str(), "replicaof" | "slaveof") && p[1] != "no") {
                    self.hit(Category::Database, "FLUSHALL/FLUSHDB", words, "`REPLICAOF` replaces this server's data with the primary's");
                }
                if vals.windows(2).any(|p| p[0] == "shutdown" && p[1] == "nosave") {
                    self.hit(Category::Database, "FLUSHALL/FLUSHDB", words, "`SHUTDOWN NOSAVE` stops Redis and loses what was not saved");
                }
                if from_stdin || args.iter().any(|w| w.val().is_some_and(flushes)) {
                    self.hit(Category::Database, "FLUSHALL/FLUSHDB", words, "empties a Redis database");
                } else if matches!(c.stdin, Stdin::Unknown(_)) {
                    self.stdin_script(c, &name);
                } else if args.iter().any(|w| w.val().is_none()) {
                    self.hit(Category::Unknown, "expansion in arguments", words, "cannot tell which Redis command runs");
                }
            }
            "kubectl" | "oc" | "kubecolor" => self.kubectl(words, c),
            "helm" => {
                let o = opts(
                    args,
                    "nfo",
                    &[
                        "--namespace",
                        "--kube-context",
                        "--kubeconfig",
                        "--registry-config",
                        "--repository-cache",
                        "--repository-config",
                        "--burst-limit",
                        "--kube-apiserver",
                        "--kube-as-group",
                        "--kube-as-user",
                        "--kube-ca-file",
                        "--kube-tls-server-name",
                        "--kube-token",
                        "--qps",
                        "--values",
                        "--set",
                        "--set-string",
                        "--set-file",
                        "--version",
                        "--timeout",
                        "--output",
                    ],
                );
                // The verb may follow a global option's value the list lacks: any word that is the verb asks.
                let dry = o.flags.iter().rev().find(|(f, _)| flag_is(f, "--dry-run")).is_some_and(|(_, v)| {
                    v.as_deref().is_none_or(|v| !matches!(v.to_ascii_lowercase().as_str(), "false" | "0" | "f" | "none"))
                });
                // The verb is the first operand (`helm status delete` names a release `delete`).
                if o.lits().first().is_some_and(|s| matches!(*s, "uninstall" | "delete" | "del" | "un")) && !dry {
                    self.hit(Category::Infrastructure, "helm uninstall", words, "uninstalls a release");
                }
                self.blanket(&o, words);
            }
            "terraform" | "tofu" | "terragrunt" | "pulumi" | "cdk" | "cdktf" => {
                let o = opts(args, "", &[]);
                let mut ops = o.lits();
                // `terragrunt run-all destroy`, `terragrunt run --all -- destroy`: the command it runs in every module.
                if name == "terragrunt" && ops.first().is_some_and(|f| matches!(*f, "run-all" | "run")) {
                    ops.remove(0);
                }
                // A global option's value may come first (`pulumi -C dir destroy`): the verb is any word.
                let first = ops
                    .iter()
                    .copied()
                    .find(|v| matches!(*v, "destroy" | "destroy-all") || (name == "pulumi" && matches!(*v, "down" | "dn")))
                    .or_else(|| {
                        ops.iter().copied().find(|v| matches!(*v, "apply" | "up" | "deploy" | "state" | "workspace" | "stack" | "taint"))
                    })
                    .unwrap_or_else(|| ops.first().copied().unwrap_or(""));
                let at = ops.iter().position(|v| *v == first).unwrap_or(0);
                let ops: Vec<&str> = ops[at..].to_vec();
                // Go's flag package: `-destroy`, `--destroy=true`, `-replace=ADDR` are whole words, not letter clusters.
                let go_flag = |name: &str| {
                    args.iter().filter_map(|w| w.val()).any(|v| {
                        let f = v.trim_start_matches('-');
                        let (k, val) = f.split_once('=').unwrap_or((f, "true"));
                        v.starts_with('-') && k == name && !matches!(val, "false" | "0")
                    })
                };
                let destroy = matches!(first, "destroy" | "destroy-all")
                    || (name == "pulumi" && matches!(first, "down" | "dn"))
                    || (matches!(first, "apply" | "up" | "deploy") && (go_flag("destroy") || go_flag("replace")))
                    || (first == "state" && matches!(ops.get(1), Some(&"rm" | &"delete")))
                    || (first == "state" && ops.get(1) == Some(&"push") && (go_flag("force") || o.has(&["-force", "--force"])))
                    || first == "taint"
                    || (first == "workspace" && ops.get(1) == Some(&"delete"))
                    || (first == "stack" && ops.get(1) == Some(&"rm"));
                if destroy {
                    self.hit(Category::Infrastructure, "terraform destroy", words, "destroys managed infrastructure");
                }
                self.blanket(&o, words);
            }
            "docker" | "podman" | "nerdctl" | "docker-compose" | "podman-compose" => self.docker(&name, words, c),
            "aws" => self.aws(words),
            "gcloud" | "az" | "doctl" | "gsutil" | "linode-cli" | "hcloud" | "flyctl" | "heroku" => {
                let o = opts(args, "", &[]);
                let ops = o.lits();
                // The CLI's own settings and extensions are local (`gcloud config configurations delete`, `az extension remove`).
                let local = matches!(ops.first(), Some(&"config" | &"extension" | &"cache" | &"auth" | &"components"));
                let deletes = ops
                    .iter()
                    .any(|a| matches!(*a, "delete" | "destroy" | "rb" | "apps:destroy" | "remove" | "purge") || a.starts_with("delete-"))
                    || (matches!(name.as_str(), "gsutil" | "gcloud" | "doctl") && ops.contains(&"rm"))
                    // `addons:destroy`, `bulk-delete`, `rebuild` (a fresh disk), doctl's `d` alias of delete.
                    || ops.iter().take(5).any(|a| {
                        !a.contains(['/', '=', '.'])
                            && system::verb_parts(a).iter().any(|p| matches!(p.as_str(), "delete" | "destroy" | "purge" | "rebuild" | "terminate"))
                    })
                    || (name == "doctl" && ops.get(2) == Some(&"d"))
                    || (name == "az" && (o.value(&["--method"]).is_some_and(|m| m.eq_ignore_ascii_case("delete")) || o.value(&["--mode"]).is_some_and(|m| m.eq_ignore_ascii_case("complete"))))
                    // A value given as the next word: `--mode Complete`, `--method delete`.
                    || args.windows(2).any(|p| {
                        let (a, b) = (p[0].val().unwrap_or(""), p[1].val().unwrap_or(""));
                        (a == "--mode" && b.eq_ignore_ascii_case("complete")) || (a == "--method" && b.eq_ignore_ascii_case("delete"))
                    });
                if name == "heroku" && ops.iter().any(|a| a.starts_with("pg:backups:restore") || *a == "pg:copy") {
                    self.hit(Category::Database, "dropdb", words, "overwrites a Heroku database with a backup");
                }
                self.cloud_sql(words);
                // Remote commands: `gcloud compute ssh --command CMD`, `az vm run-command … --scripts CMD`.
                let vals: Vec<&str> = args.iter().filter_map(|w| w.val()).collect();
                for (i, v) in vals.iter().enumerate() {
                    let cmd = match v.split_once('=') {
                        Some(("--command" | "--scripts", c)) => Some(c),
                        None if matches!(*v, "--command" | "--scripts") => vals.get(i + 1).copied(),
                        _ => None,
                    };
                    if let Some(cmd) = cmd {
                        self.nested_checked(cmd);
                    }
                }
                let deletes = deletes && !local;
                let syncs_away = ops.iter().any(|a| *a == "rsync" || *a == "sync")
                    && (o.has(&["-d", "--delete-unmatched-destination-objects", "--delete"])
                        || o.value(&["--delete-destination"]).is_some_and(|v| v.eq_ignore_ascii_case("true"))
                        || args.windows(2).any(|p| {
                            p[0].val() == Some("--delete-destination") && p[1].val().is_some_and(|v| v.eq_ignore_ascii_case("true"))
                        }));
                if syncs_away {
                    self.hit(Category::BulkDeletion, "rsync --delete", words, "deletes what the source lacks at the destination");
                }
                if name == "heroku" && ops.contains(&"pg:reset") {
                    self.hit(Category::Database, "dropdb", words, "resets a Heroku database, deleting its data");
                } else if deletes {
                    self.hit(Category::Infrastructure, "cloud delete", words, format!("`{name}` deletes cloud resources"));
                }
                self.blanket(&o, words);
            }
            // Object-storage clients: deleting verbs, and syncs that delete at the destination.
            "rclone" | "mc" | "s3cmd" => {
                let o = opts(
                    args,
                    "c",
                    &[
                        "--config",
                        "--exclude",
                        "--include",
                        "--filter",
                        "--transfers",
                        "--checkers",
                        "--config-dir",
                        "--log-file",
                        "--bwlimit",
                    ],
                );
                // The verb is the first operand that is one of the program's verbs (a global option's value the list lacks may come first).
                const VERBS: &[&str] =
                    &["purge", "delete", "deletefile", "rmdir", "rmdirs", "cleanup", "dedupe", "rm", "rb", "del", "sync", "mirror", "rc"];
                let verb = o.lits().iter().copied().find(|v| VERBS.contains(v)).or(o.lits().first().copied()).unwrap_or("");
                if name == "rclone"
                    && (verb == "dedupe" || (verb == "rc" && o.lits().iter().any(|v| v.contains("purge") || v.contains("delete"))))
                {
                    self.hit(Category::Infrastructure, "cloud delete", words, format!("`rclone {verb}` deletes stored objects"));
                }
                let deletes = match name.as_str() {
                    "rclone" => matches!(verb, "purge" | "delete" | "deletefile" | "rmdir" | "rmdirs" | "cleanup"),
                    "mc" => matches!(verb, "rm" | "rb"),
                    _ => matches!(verb, "del" | "rm" | "rb" | "delete"),
                };
                let syncs_away = match name.as_str() {
                    "rclone" => verb == "sync",
                    "mc" => verb == "mirror" && o.has(&["--remove"]),
                    _ => verb == "sync" && o.has(&["--delete-removed"]),
                };
                if deletes {
                    self.hit(Category::Infrastructure, "cloud delete", words, format!("`{name} {verb}` deletes stored objects"));
                } else if syncs_away {
                    self.hit(Category::BulkDeletion, "rsync --delete", words, "deletes what the source lacks at the destination");
                } else {
                    self.blanket(&o, words);
                }
            }
            "curl" => self.curl(words),
            "wget" => {
                let o = opts(args, "OoPeUt", &["--method", "--output-document", "--user-agent", "--header", "--body-data", "--post-data"]);
                let m = o.value(&["--method"]);
                let m = if o.values(&["--header"]).any(overrides_to_delete) { Some("DELETE") } else { m };
                self.http_method(m, o.lits().first().copied(), words, &o);
            }
            "http" | "https" | "xh" | "xhs" => {
                let o = opts(
                    args,
                    "aAoh",
                    &[
                        "--auth",
                        "--auth-type",
                        "--output",
                        "--session",
                        "--session-read-only",
                        "--verify",
                        "--cert",
                        "--cert-key",
                        "--proxy",
                    ],
                );
                let ops = o.lits();
                // `http [METHOD] URL [ITEM…]`; a header item may override the method (`X-HTTP-Method-Override:DELETE`).
                // A value-taking option the list lacks (`--timeout 5`) may come first: DELETE is any word spelled so.
                let method_at = ops.iter().position(|m| m.eq_ignore_ascii_case("DELETE"));
                let has_method = ops.first().is_some_and(|m| m.chars().all(|c| c.is_ascii_alphabetic()) && !m.contains('.'));
                let url = match method_at {
                    Some(k) => ops.get(k + 1),
                    None if has_method => ops.get(1),
                    None => ops.first(),
                };
                let overridden = ops.iter().any(|i| overrides_to_delete(i));
                match method_at {
                    Some(_) => self.http_method(Some("DELETE"), url.copied(), words, &o),
                    None if overridden => self.http_method(Some("DELETE"), url.copied(), words, &o),
                    _ => self.blanket(&o, words),
                }
            }
            "mv" | "cp" | "ln" | "install" => self.overwrite_target(&name, words),
            "tee" => {
                let o = opts(args, "", &[]);
                for t in o.lits() {
                    if let Some(dev) = self.device(t) {
                        self.hit(Category::Destruction, "write to a device", words, format!("writes over the device {dev}"));
                    } else if self.level_strict() && !o.has(&["-a", "--append"]) && !t.starts_with("/dev/") && self.exists(t) {
                        self.hit(Category::Overwrite, "overwrite a file", words, format!("replaces the existing file {t}"));
                    }
                }
            }
            "truncate" => {
                if self.level_strict() {
                    let o = opts(args, "sr", &["--size", "--reference"]);
                    for t in o.lits() {
                        if self.exists(t) {
                            self.hit(Category::Overwrite, "overwrite a file", words, format!("cuts the existing file {t}"));
                        }
                    }
                }
            }
            "sed" | "gsed" => {
                let o = opts(args, "efl", &["--expression", "--file", "--line-length"]);
                let mut progs: Vec<&str> = o.values(&["-e", "--expression"]).collect();
                if progs.is_empty() && !o.has(&["-f", "--file"]) {
                    progs.extend(o.lits().first().copied());
                }
                // `sed -f /dev/stdin` / `sed -f <(…)`: the program comes from elsewhere.
                let stdin_prog = match (&c.stdin, o.values(&["-f", "--file"]).any(stdin_path)) {
                    (Stdin::Text(t), true) => Some(t.clone()),
                    _ => None,
                };
                if o.values(&["-f", "--file"]).any(unknown_value) {
                    self.hit(Category::Unknown, "piped script", words, "the sed program comes from what cannot be known before it runs");
                }
                if progs.iter().any(|p| sed_executes(p)) || stdin_prog.iter().any(|p| p.lines().any(sed_executes)) {
                    self.hit(Category::Unknown, "inline code", words, "the sed program runs commands (`e`): cannot tell what it runs");
                }
            }
            "tar" | "bsdtar" => {
                let lits: Vec<&str> = args.iter().filter_map(|w| w.val()).collect();
                // Long options may be abbreviated (`--remove`, `--use-compress-prog=CMD`).
                let long = |v: &str, full: &str| flag_is(v.split_once('=').map_or(v, |(k, _)| k), full);
                if lits.iter().any(|v| long(v, "--remove-files")) {
                    self.hit(Category::BulkDeletion, "rm -r", words, "`tar --remove-files` deletes what it archives");
                }
                let mut cmds: Vec<String> = Vec::new();
                let mut k = 0;
                while k < lits.len() {
                    let v = lits[k];
                    k += 1;
                    if v.starts_with("--") {
                        let key = v.split_once('=').map_or(v, |(a, _)| a);
                        if ["--to-command", "--use-compress-program", "--info-script", "--new-volume-script"]
                            .iter()
                            .any(|f| flag_is(key, f))
                        {
                            match v.split_once('=') {
                                Some((_, val)) => cmds.push(val.to_owned()),
                                None => {
                                    cmds.extend(lits.get(k).map(|s| (*s).to_owned()));
                                    k += 1;
                                }
                            }
                        }
                        continue;
                    }
                    // Short options (`-I CMD`, `-F CMD`, `-cIf CMD`): letters that take a value take the rest or the next word.
                    let Some(cluster) = v.strip_prefix('-').or((k == 1).then_some(v)) else { continue };
                    for (j, ch) in cluster.char_indices() {
                        if "fbCgHKLNTVX".contains(ch) || ch == 'I' || ch == 'F' {
                            let rest = &cluster[j + 1..];
                            let val = if rest.is_empty() || !v.starts_with('-') {
                                k += 1;
                                lits.get(k - 1).map(|s| (*s).to_owned())
                            } else {
                                Some(rest.to_owned())
                            };
                            if matches!(ch, 'I' | 'F') {
                                cmds.extend(val);
                            }
                            if v.starts_with('-') {
                                break;
                            }
                        }
                    }
                }
                for cmd in cmds {
                    self.nested_checked(&cmd);
                }
                for a in lits {
                    for key in
                        ["--to-command=", "--use-compress-program=", "--checkpoint-action=exec=", "--info-script=", "--new-volume-script="]
                    {
                        if let Some(v) = a.strip_prefix(key) {
                            self.nested_checked(v);
                        }
                    }
                }
            }
            "userdel" | "deluser" => {
                let o = opts(args, "", &["--conf", "--group", "--backup-to"]);
                if o.has(&["-r", "--remove", "--remove-home", "--remove-all-files"]) {
                    self.hit(Category::BulkDeletion, "userdel -r", words, "deletes the user's home tree and mail");
                }
            }
            "zip" => {
                let o = opts(args, "bnPtZ", &["--temp-path", "--suffixes", "--password", "--compression-method"]);
                if o.has(&["-m", "--move"]) {
                    self.hit(Category::BulkDeletion, "archive and delete", words, "`zip -m` deletes the files it archives");
                }
                // `-TT CMD`, `--unzip-command CMD`.
                self.system("zip", words, c);
            }
            "7z" | "7za" | "7zr" | "7zz" => {
                if args.iter().any(|w| w.val() == Some("-sdel")) {
                    self.hit(Category::BulkDeletion, "archive and delete", words, "`7z -sdel` deletes the files it archives");
                }
            }
            "vagrant" if args.iter().any(|w| w.val() == Some("destroy")) => {
                self.hit(Category::Infrastructure, "vm destroy", words, "destroys a virtual machine and its disks")
            }
            "multipass"
                if args.iter().any(|w| w.val() == Some("purge"))
                    || (args.iter().any(|w| matches!(w.val(), Some("delete" | "remove")))
                        && args.iter().any(|w| matches!(w.val(), Some("--purge" | "-p")))) =>
            {
                self.hit(Category::Infrastructure, "vm destroy", words, "deletes virtual machines for good")
            }
            "lxc" | "incus" | "lxd" if args.iter().any(|w| matches!(w.val(), Some("delete" | "rm"))) => {
                self.hit(Category::Infrastructure, "vm destroy", words, "deletes an instance and its storage")
            }
            "virsh"
                if args.iter().any(|w| matches!(w.val(), Some("vol-delete" | "vol-wipe" | "pool-delete")))
                    || (args.iter().any(|w| w.val() == Some("undefine"))
                        && args
                            .iter()
                            .any(|w| w.val().is_some_and(|v| v.starts_with("--remove-all-storage") || v.starts_with("--storage")))) =>
            {
                self.hit(Category::Infrastructure, "vm destroy", words, "deletes a virtual machine's storage")
            }
            // `cmake -E rm -r DIR`, `cmake -E remove_directory DIR`.
            "cmake" if args.first().and_then(|w| w.val()) == Some("-E") => {
                let tool = args.get(1).and_then(|w| w.val()).unwrap_or("");
                let recursive = tool == "remove_directory"
                    || (tool == "rm" && opts(&args[2..], "", &[]).has(&["-r", "-R"]))
                    || (matches!(tool, "rm" | "remove") && args[2..].iter().any(|w| w.glob));
                if recursive {
                    self.hit(Category::BulkDeletion, "rm -r", words, "`cmake -E` deletes whole directory trees");
                }
            }
            n if self.system(n, words, c) => {}
            // Database clients and tools read in rules/db.rs.
            "usql" | "ysqlsh" => self.sql_client(words, c, &PSQL),
            "mycli" => self.sql_client(words, c, &MYCLI),
            "mysqlsh" => self.sql_client(words, c, &MYSQLSH),
            "beeline" => self.sql_client(words, c, &BEELINE),
            "spark-sql" | "hive" => self.sql_client(words, c, &SPARK_SQL),
            "sqlplus" | "sqlcl" => self.sql_client(words, c, &SQLPLUS),
            "pg_dropcluster" | "dropuser" | "pg_resetwal" | "pg_resetxlog" | "mariadb-admin" | "influx" | "wrangler" => {
                self.db_admin(&name, words, c)
            }
            n if MIGRATION_TOOLS.contains(&n) => match framework_teardown(words) {
                Some(why) => self.hit(Category::Database, "dropdb", words, why),
                None => self.catch_all(n, words),
            },
            // Git's dashed programs, BFG, other version control and forge clients (rules/git.rs).
            n if n.starts_with("git-") || matches!(n, "bfg" | "java" | "hg" | "svn" | "p4" | "jj" | "gh" | "glab") => self.vcs(n, words, c),
            n if INERT.contains(&n) => {}
            _ => self.unknown_program(&name, words, c),
        }
        // Writers whose output may be a device (`curl -o /dev/sda`, `tar -cf /dev/sda`, `sed 'w /dev/sda'`).
        if matches!(name.as_str(), "curl" | "wget" | "tar" | "bsdtar" | "sed" | "gsed" | "openssl" | "zstd" | "xz" | "gzip" | "bzip2")
            || (name == "rsync" && args.iter().any(|w| w.val().is_some_and(|v| v.starts_with("--write-devices"))))
        {
            self.device_operands(&name, words);
        }
        // Job patterns apply to every simple command, wrappers included.
        if self.out.len() == before {
            let shown = normalised(words);
            if let Some((p, _)) = self.gate.custom.iter().find(|(_, r)| r.is_match(&shown)) {
                let p = p.clone();
                self.hit(Category::Custom, &p, words, format!("matches the job's destructive pattern `{p}`"));
            }
        }
        let _ = &c.stdin;
    }

    /// A program whose value-taking options are known, then a command.
    fn wrapper(&mut self, args: &[Word], c: &Cmd, short_val: &str, long_val: &[&str], assignments: bool) {
        self.after_positional_opts(args, c, short_val, long_val, 0, assignments);
    }

    fn after_positional(&mut self, args: &[Word], c: &Cmd, short_val: &str, long_val: &[&str], skip: usize) {
        self.after_positional_opts(args, c, short_val, long_val, skip, false);
    }

    /// Skips the wrapper's options (leading only: a wrapper's options stop
    /// at its command), `skip` positional operands, and with `assignments`
    /// any `NAME=value`, then classifies the rest as a command.
    fn after_positional_opts(&mut self, args: &[Word], c: &Cmd, short_val: &str, long_val: &[&str], mut skip: usize, assignments: bool) {
        let mut i = 0;
        while i < args.len() {
            let Some(v) = args[i].val() else {
                // An unknown word where the command should start.
                self.argv(&args[i..], c);
                return;
            };
            if v == "--" {
                i += 1;
                break;
            }
            if v.starts_with('-') && v.len() > 1 {
                if let Some(long) = v.strip_prefix("--") {
                    if !long.contains('=') && long_val.contains(&v) {
                        i += 1;
                    }
                } else {
                    let chars: Vec<char> = v[1..].chars().collect();
                    if let Some(pos) = chars.iter().position(|ch| short_val.contains(*ch))
                        && pos == chars.len() - 1
                    {
                        i += 1;
                    }
                    // `nice -10`: a number is the option's value.
                }
                i += 1;
                continue;
            }
            if assignments
                && let Some((name, value)) = v.split_once('=')
                && !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                self.assignment(name, &Word::literal(value), &c.words);
                i += 1;
                continue;
            }
            if skip > 0 {
                skip -= 1;
                i += 1;
                continue;
            }
            break;
        }
        while skip == 0 && assignments && i < args.len() {
            match args[i].val().and_then(|v| v.split_once('=')) {
                Some((name, value)) if !name.starts_with('-') && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                    self.assignment(name, &Word::literal(value), &c.words);
                    i += 1
                }
                _ => break,
            }
        }
        if i < args.len() {
            self.argv(&args[i..], c);
        }
    }

    fn env_wrapper(&mut self, args: &[Word], c: &Cmd) {
        let mut i = 0;
        while i < args.len() {
            let Some(v) = args[i].val() else {
                self.argv(&args[i..], c);
                return;
            };
            i += 1;
            if v == "--" {
                continue;
            }
            let split = |this: &mut Self, first: &str, i: usize| {
                // `env -S 'rm -rf d' more…`: the string is split into a command line, the rest appended.
                let mut text = first.to_owned();
                for w in args.get(i..).unwrap_or_default() {
                    text.push(' ');
                    text.push_str(&w.raw);
                }
                this.nested_checked(&text);
            };
            if let Some(long) = v.strip_prefix("--") {
                let (name, value) = long.split_once('=').map_or((long, None), |(n, v)| (n, Some(v)));
                let name = format!("--{name}");
                if flag_is(&name, "--split-string") {
                    match value {
                        Some(t) => split(self, t, i),
                        None => split(self, args.get(i).map(|w| w.val().unwrap_or(&w.raw)).unwrap_or(""), i + 1),
                    }
                    return;
                }
                if value.is_none() && (flag_is(&name, "--unset") || flag_is(&name, "--chdir")) {
                    i += 1;
                }
                continue;
            }
            if let Some(cluster) = v.strip_prefix('-').filter(|c| !c.is_empty()) {
                // Short options cluster (`-iS…`, `-iu NAME`); `-u`, `-C` and `-S` take the rest or the next word.
                for (k, ch) in cluster.char_indices() {
                    if matches!(ch, 'u' | 'C' | 'S') {
                        let rest = &cluster[k + 1..];
                        if ch == 'S' {
                            match rest.is_empty() {
                                false => split(self, rest, i),
                                true => split(self, args.get(i).map(|w| w.val().unwrap_or(&w.raw)).unwrap_or(""), i + 1),
                            }
                            return;
                        }
                        if rest.is_empty() {
                            i += 1;
                        }
                        break;
                    }
                }
                continue;
            }
            if let Some((name, value)) = v.split_once('=') {
                self.assignment(name, &Word::literal(value), &c.words);
                continue;
            }
            i -= 1;
            break;
        }
        if i < args.len() {
            self.argv(&args[i..], c);
        }
    }

    fn flock(&mut self, args: &[Word], c: &Cmd) {
        let o = opts(args, "wEc", &["--timeout", "--conflict-exit-code", "--command"]);
        for cmd in o.values(&["-c", "--command"]).map(str::to_owned).collect::<Vec<_>>() {
            self.nested_checked(&cmd);
        }
        // flock FILE CMD ARGS…: the command starts after the lock file.
        if o.operands.len() > 1 {
            let at = args.iter().position(|w| std::ptr::eq(w, o.operands[1])).unwrap_or(0);
            self.argv(&args[at..], c);
        }
    }

    fn su(&mut self, args: &[Word], c: &Cmd) {
        let o = opts(args, "cugsgG", &["--command", "--user", "--group", "--shell", "--supp-group", "--session-command"]);
        let cmds: Vec<String> = o.values(&["-c", "--command", "--session-command"]).map(str::to_owned).collect();
        if o.values(&["-c", "--command", "--session-command"]).any(unknown_value) {
            self.hit(Category::Unknown, "expansion in arguments", &c.words, "cannot tell what `su -c` runs");
        }
        for cmd in cmds {
            self.nested_checked(&cmd);
        }
        // runuser -u USER [--] CMD…
        if o.has(&["-u", "--user"]) && !o.operands.is_empty() {
            let at = args.iter().position(|w| std::ptr::eq(w, o.operands[0])).unwrap_or(0);
            self.argv(&args[at..], c);
        }
    }

    /// A nested script given as one literal argument.
    fn nested_checked(&mut self, text: &str) {
        if unknown_value(text) {
            self.push(
                Category::Unknown,
                "expansion in arguments",
                text.to_owned(),
                "cannot tell what command it runs".into(),
                self.span.clone(),
            );
        } else {
            self.nested(text);
        }
    }

    /// Arguments joined by spaces and read as a script (what `ssh HOST CMD`
    /// and `watch CMD` do).
    fn shell_text(&mut self, words: &[Word], _c: &Cmd) {
        if let Some(w) = words.iter().find(|w| w.val().is_none()) {
            self.hit(Category::Unknown, "expansion in arguments", words, format!("cannot tell what `{}` runs", w.raw));
            return;
        }
        let text: Vec<&str> = words.iter().filter_map(Word::val).collect();
        self.nested(&text.join(" "));
    }

    /// A program that reads lines from standard input and runs the command
    /// `command_of` finds in each (`crontab -`, `make -f -`); input from
    /// another command is a piped script.
    fn stdin_lines(&mut self, c: &Cmd, name: &str, command_of: fn(&str) -> Option<String>) {
        match &c.stdin {
            Stdin::Text(t) => {
                for cmd in t.lines().filter_map(command_of).collect::<Vec<_>>() {
                    self.nested_in(&cmd, Stdin::Inherited);
                }
            }
            Stdin::Unknown(_) => self.stdin_script(c, name),
            Stdin::Inherited => {}
        }
    }

    /// A shell reading its script from standard input.
    fn stdin_script(&mut self, c: &Cmd, who: &str) {
        match &c.stdin {
            Stdin::Text(t) => {
                let t = t.clone();
                self.nested_in(&t, Stdin::Inherited);
            }
            Stdin::Unknown(from) => {
                let from = from.clone();
                self.hit(
                    Category::Unknown,
                    "piped script",
                    &c.words,
                    format!("`{who}` runs what `{from}` prints: cannot tell what it runs"),
                );
            }
            Stdin::Inherited => {}
        }
    }

    fn shell(&mut self, args: &[Word], c: &Cmd, name: &str) {
        let mut i = 0;
        let mut dash_c = false;
        let mut stdin_mode = false;
        while i < args.len() {
            let Some(v) = args[i].val() else { break };
            if v == "--" || v == "-" {
                i += 1;
                if v == "-" {
                    stdin_mode = true;
                }
                break;
            }
            if let Some(long) = v.strip_prefix("--") {
                // fish's `--command=SCRIPT`.
                if let Some(script) = long.strip_prefix("command=") {
                    self.nested(script);
                    return;
                }
                if matches!(long, "rcfile" | "init-file") {
                    i += 1;
                }
                if long == "command" {
                    dash_c = true;
                }
                i += 1;
                continue;
            }
            if (v.starts_with('-') || v.starts_with('+')) && v.len() > 1 {
                let flags = &v[1..];
                if flags.contains('c') {
                    dash_c = true;
                }
                if flags.contains('s') {
                    stdin_mode = true;
                }
                // Each `o`/`O` of a cluster takes the next word (`-oc pipefail 'cmd'`).
                i += flags.chars().filter(|ch| matches!(ch, 'o' | 'O')).count();
                i += 1;
                continue;
            }
            break;
        }
        let rest = &args[i.min(args.len())..];
        if dash_c {
            match rest.first() {
                Some(w) => match w.val() {
                    Some(script) => self.nested(script),
                    None => self.hit(
                        Category::Unknown,
                        "expansion in arguments",
                        &c.words,
                        format!("cannot tell what `{name} -c {}` runs", w.raw),
                    ),
                },
                None => self.hit(Category::Unknown, "cannot be parsed", &c.words, format!("`{name} -c` without a script")),
            }
            return;
        }
        let file = rest.first().and_then(|w| w.val());
        if rest.is_empty() || stdin_mode || file.is_some_and(stdin_path) {
            self.stdin_script(c, name);
        } else if rest[0].val().is_none() {
            self.hit(
                Category::Unknown,
                "program not a literal word",
                &c.words,
                format!("cannot tell which script `{}` names", rest[0].raw),
            );
        } else if let Some(f) = file {
            // `sh file.sh`: the gate does not read script files (SECURITY.md), but one this call writes it knows.
            self.run_written(f, &c.words, name);
        }
    }

    fn interpreter(&mut self, name: &str, args: &[Word], c: &Cmd, words: &[Word]) {
        // `python manage.py flush`, `php artisan migrate:fresh`.
        if let Some(why) = framework_teardown(words) {
            self.hit(Category::Database, "dropdb", words, why);
        }
        let flag_names: &[&str] = match name {
            n if n.starts_with("python") || n.starts_with("pypy") => &["-c"],
            n if n.starts_with("perl") => &["-e", "-E"],
            "ruby" | "lua" | "Rscript" | "osascript" => &["-e"],
            "node" | "nodejs" | "bun" => &["-e", "--eval", "-p", "--print"],
            "php" => &["-r", "--run"],
            "pwsh" | "powershell" => &["-c", "-Command", "-command"],
            "julia" | "elixir" | "racket" => &["-e", "--eval"],
            "guile" => &["-c"],
            "deno" => &[],
            _ => &[],
        };
        // Flags that may come before the code flag in one word (`perl -lne CODE`,
        // `python3 -Ic CODE`); any other letter ends the cluster with its own
        // value (`perl -MFile::Path=rmtree` is a module, `perl -pie` an `-i` suffix).
        let clusterable: &str = match name {
            n if n.starts_with("python") || n.starts_with("pypy") => "bBdEhiIOPqsSuvVxR",
            n if n.starts_with("perl") => "acnpstTuUwWXSl0",
            "ruby" => "acdlnpsSvwWyU",
            "node" | "nodejs" | "bun" => "p",
            _ => "",
        };
        let ends_cluster_with = |v: &str, f: &str| {
            f.len() == 2
                && v.len() > 2
                && v.starts_with('-')
                && !v.starts_with("--")
                && v.ends_with(&f[1..])
                && v[1..v.len() - 1].chars().all(|ch| clusterable.contains(ch))
        };
        let mut code: Vec<String> = Vec::new();
        let mut unknown = false;
        let mut it = args.iter().enumerate();
        while let Some((i, w)) = it.next() {
            let Some(v) = w.val() else {
                unknown = true;
                continue;
            };
            // `-c CODE`, clusters like perl's `-ne CODE`, `-eCODE` and `--eval=CODE`.
            if flag_names.iter().any(|f| v == *f || ends_cluster_with(v, f)) {
                match args.get(i + 1).map(|n| n.val()) {
                    Some(Some(t)) => code.push(t.to_owned()),
                    Some(None) => unknown = true,
                    None => {}
                }
                it.next();
                continue;
            }
            if let Some(f) = flag_names.iter().find(|f| f.len() == 2 && v.len() > 2 && v.starts_with(**f)) {
                code.push(v[f.len()..].to_owned());
            } else if let Some(attached) = flag_names.iter().find_map(|f| v.strip_prefix(*f).and_then(|r| r.strip_prefix('='))) {
                code.push(attached.to_owned());
            }
        }
        // `pwsh -EncodedCommand BASE64`: code the gate cannot read at all.
        if matches!(name, "pwsh" | "powershell")
            && args.iter().filter_map(|w| w.val()).any(|v| {
                let l = v.to_ascii_lowercase();
                l.starts_with("-e") && "-encodedcommand".starts_with(l.trim_end_matches(|c: char| !c.is_ascii_alphabetic())) && l.len() >= 2
            })
        {
            self.hit(Category::Unknown, "inline code", words, format!("`{name} -EncodedCommand` runs encoded code the gate cannot read"));
            return;
        }
        // `python -m timeit STMT…`: the statements run.
        if (name.starts_with("python") || name.starts_with("pypy"))
            && let Some(at) = args.iter().position(|w| w.val() == Some("timeit"))
            && at > 0
            && args[at - 1].val() == Some("-m")
        {
            code.extend(args[at + 1..].iter().filter_map(|w| w.val()).filter(|v| !v.starts_with('-')).map(str::to_owned));
        }
        if name == "deno" && args.first().and_then(|w| w.val()) == Some("eval") {
            code.extend(args.get(1).and_then(|w| w.val()).map(str::to_owned));
        }
        if matches!(name, "awk" | "gawk" | "mawk" | "nawk" | "busybox-awk") {
            let o = opts(args, "fvF", &["--file", "--assign", "--field-separator", "--source"]);
            if !o.has(&["-f", "--file"]) {
                code.extend(o.lits().first().map(|s| (*s).to_owned()));
            }
            code.extend(o.values(&["--source"]).map(str::to_owned));
        }
        // `python3 /dev/stdin`, `awk -f /dev/stdin`, `deno run /dev/stdin`, `python3 -m code`: the program is standard input.
        let script_is_stdin = code.is_empty()
            && args.iter().filter_map(|w| w.val()).any(|v| matches!(v, "/dev/stdin" | "/dev/fd/0" | "/proc/self/fd/0" | "code"))
            && !matches!(c.stdin, Stdin::Inherited);
        let reads_stdin = script_is_stdin
            || (code.is_empty()
                && !matches!(name, "awk" | "gawk" | "mawk" | "nawk")
                && args.iter().filter_map(|w| w.val()).all(|v| v.starts_with('-')));
        if reads_stdin && let Stdin::Text(t) = &c.stdin {
            code.push(t.clone());
        }
        if unknown && code.is_empty() {
            self.hit(Category::Unknown, "expansion in arguments", words, format!("cannot tell what `{name}` is given to run"));
            return;
        }
        if reads_stdin && matches!(c.stdin, Stdin::Unknown(_)) {
            self.stdin_script(c, name);
            return;
        }
        let awk = matches!(name, "awk" | "gawk" | "mawk" | "nawk" | "busybox-awk");
        // Code that names a block device writes or reads it raw: ask.
        if let Some(dev) =
            code.iter().flat_map(|c| c.split(|ch: char| !(ch.is_ascii_alphanumeric() || "/._-".contains(ch)))).find_map(block_device)
        {
            self.hit(Category::Destruction, "device operand", words, format!("inline {name} code names the block device {dev}"));
        }
        // PowerShell's own aliases of Remove-Item (`ri`, `erase`, `rd`).
        static PWSH_ALIASES: std::sync::LazyLock<regex::Regex> =
            std::sync::LazyLock::new(|| regex::Regex::new(r"(?i)(^|[;|{(\s])(ri|erase|rd)\s").expect("static regex"));
        let pwsh = matches!(name, "pwsh" | "powershell");
        if code.iter().any(|c| inline_code_acts(c) || (awk && awk_pipes(c)) || (pwsh && PWSH_ALIASES.is_match(c))) {
            self.hit(
                Category::Unknown,
                "inline code",
                words,
                format!("inline {name} code that can run commands or delete files: the gate does not read {name}"),
            );
        }
    }

    fn xargs(&mut self, args: &[Word], c: &Cmd) {
        let mut i = 0;
        let mut replace: Option<String> = None;
        while i < args.len() {
            let Some(v) = args[i].val() else { break };
            if v == "--" {
                i += 1;
                break;
            }
            if !v.starts_with('-') || v == "-" {
                break;
            }
            i += 1;
            if let Some(long) = v.strip_prefix("--") {
                let (name, value) = long.split_once('=').map_or((long, None), |(n, v)| (n, Some(v)));
                let name = format!("--{name}");
                // `--replace[=R]`, `--eof[=E]`, `--max-lines[=N]` take only an attached value.
                if flag_is(&name, "--replace") {
                    replace = Some(value.unwrap_or("{}").to_owned());
                } else if value.is_none()
                    && ["--arg-file", "--delimiter", "--max-args", "--max-procs", "--max-chars", "--process-slot-var"]
                        .iter()
                        .any(|l| flag_is(&name, l))
                {
                    i += 1;
                }
                continue;
            }
            for (k, ch) in v[1..].char_indices() {
                let rest = &v[1 + k + ch.len_utf8()..];
                match ch {
                    // Take the rest of the word, or the next one.
                    'a' | 'd' | 'E' | 'I' | 'L' | 'n' | 'P' | 's' => {
                        let value = if rest.is_empty() {
                            i += 1;
                            args.get(i - 1).map(|w| w.val().unwrap_or("\u{0}unknown").to_owned())
                        } else {
                            Some(rest.to_owned())
                        };
                        if ch == 'I' {
                            replace = value;
                        }
                        break;
                    }
                    // Take only an attached value.
                    'i' => {
                        replace = Some(if rest.is_empty() { "{}".to_owned() } else { rest.to_owned() });
                        break;
                    }
                    'e' | 'l' => break,
                    _ => {}
                }
            }
        }
        let inner = &args[i.min(args.len())..];
        if inner.is_empty() {
            return;
        }
        self.bulk_inner(inner, c, "xargs rm", replace.as_deref());
    }

    /// A command run once per input item (`xargs`, `find -exec`, `fd -x`,
    /// `parallel`): deleting programs there, behind any wrapper, are bulk
    /// deletion. Where the item replaces a string (`xargs -I{}`, find's
    /// `{}`), a word that embeds it, or a program named by it, is only
    /// known at run time (`sh -c 'echo {}'` runs whatever a file is called).
    fn bulk_inner(&mut self, inner: &[Word], c: &Cmd, rule: &'static str, replace: Option<&str>) {
        let marked: Vec<Word>;
        let inner = match replace.filter(|r| !r.is_empty()) {
            Some(r) => {
                marked = inner
                    .iter()
                    .enumerate()
                    .map(|(k, w)| match w.val() {
                        Some(v) if v.contains(r) && (k == 0 || v != r || inner[k - 1].val().is_some_and(takes_code)) => {
                            Word { raw: w.raw.clone(), lit: None, glob: false }
                        }
                        _ => w.clone(),
                    })
                    .collect();
                &marked[..]
            }
            None => inner,
        };
        let saved = self.bulk.replace(rule);
        // Without the item's placeholder in the command, the items are added as operands.
        let appends = replace.is_none_or(|r| r.is_empty() || !inner.iter().any(|w| w.raw.contains(r)));
        let saved_appends = std::mem::replace(&mut self.appends, appends);
        self.argv(inner, c);
        self.appends = saved_appends;
        self.bulk = saved;
    }

    fn rm(&mut self, words: &[Word], c: &Cmd, _bulk: bool) {
        let o = opts(&words[1..], "", &[]);
        if o.has(&["-r", "-R", "--recursive"]) {
            self.hit(Category::BulkDeletion, "rm -r", words, "deletes whole directory trees");
            return;
        }
        // `rm -f dir/*`, or `rm "$f"` in a loop: the set deleted is known only at run time.
        if let Some(w) = o.operands.iter().chain(o.unknown.iter()).find(|w| w.glob || (c.in_loop && w.val().is_none())) {
            let why = if w.glob {
                format!("deletes every file the pattern `{}` matches", w.raw)
            } else {
                format!("deletes `{}` on every pass of a loop", w.raw)
            };
            self.hit(Category::BulkDeletion, "rm glob", words, why);
            return;
        }
        if !o.unknown.is_empty() {
            let w = o.unknown[0].raw.clone();
            self.hit(
                Category::Unknown,
                "expansion in arguments",
                words,
                format!("cannot tell whether `{w}` makes `rm` recursive (write `rm -- {w}` for a file)"),
            );
            return;
        }
        if self.level_strict() && !o.operands.is_empty() {
            self.hit(Category::Overwrite, "rm a file", words, "deletes a file");
        }
    }

    fn find(&mut self, words: &[Word], c: &Cmd) {
        let args = &words[1..];
        let mut i = 0;
        let mut found = false;
        while i < args.len() {
            let Some(v) = args[i].val() else {
                if !found {
                    self.hit(
                        Category::Unknown,
                        "expansion in arguments",
                        words,
                        format!("cannot tell what `{}` adds to `find`", args[i].raw),
                    );
                    found = true;
                }
                i += 1;
                continue;
            };
            match v {
                "-delete" => {
                    self.hit(Category::BulkDeletion, "find -delete", words, "deletes every file it matches");
                    found = true;
                }
                "-exec" | "-execdir" | "-ok" | "-okdir" => {
                    let start = i + 1;
                    let end =
                        args[start..].iter().position(|w| matches!(w.val(), Some(";" | "+"))).map(|p| start + p).unwrap_or(args.len());
                    if start < end {
                        let before = self.out.len();
                        self.bulk_inner(&args[start..end], c, "find -exec rm", Some("{}"));
                        found |= self.out.len() > before;
                    }
                    i = end;
                }
                "-fprint" | "-fprint0" | "-fprintf" | "-fls" => {
                    if let Some(t) = args.get(i + 1).and_then(|w| w.val()) {
                        if let Some(dev) = self.device(t) {
                            self.hit(Category::Destruction, "write to a device", words, format!("writes over the device {dev}"));
                        } else if self.level_strict() && self.exists(t) {
                            self.hit(Category::Overwrite, "overwrite a file", words, format!("replaces the existing file {t}"));
                        }
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }

    fn dd(&mut self, words: &[Word]) {
        for w in &words[1..] {
            let Some(v) = w.val() else {
                self.hit(Category::Unknown, "expansion in arguments", words, format!("cannot tell where `{}` makes `dd` write", w.raw));
                return;
            };
            if let Some(of) = v.strip_prefix("of=") {
                if let Some(dev) = self.device(of) {
                    self.hit(Category::Destruction, "dd to a device", words, format!("writes over the device {dev}"));
                } else if self.level_strict() && !of.starts_with("/dev/") && self.exists(of) {
                    self.hit(Category::Overwrite, "overwrite a file", words, format!("replaces the existing file {of}"));
                }
            }
        }
    }

    fn kubectl(&mut self, words: &[Word], c: &Cmd) {
        let args = &words[1..];
        let o = opts(args, "nsvcflo", KUBECTL_VALUE_OPTIONS);
        let ops = o.lits();
        // The verb: the first operand, unless that is the value of a global option the list above lacks.
        let verb_at = match ops.as_slice() {
            [first, second, ..] if !KUBECTL_VERBS.contains(first) && KUBECTL_VERBS.contains(second) => 1,
            _ => 0,
        };
        let verb = ops.get(verb_at).copied().unwrap_or("");
        // `--dry-run`, `--dry-run=client|server` change nothing (`=none` does).
        // The last `--dry-run` wins; `none`, `false`, `0`, `f` (kubectl's boolean parse) run for real.
        let dry =
            o.flags.iter().rev().find(|(f, _)| flag_is(f, "--dry-run")).is_some_and(|(_, v)| {
                v.as_deref().is_none_or(|v| !matches!(v.to_ascii_lowercase().as_str(), "none" | "false" | "0" | "f"))
            });
        let deletes = !dry
            && (verb == "delete"
                || (matches!(verb, "replace" | "apply") && o.has(&["--force"]))
                || (verb == "apply" && o.has(&["--prune"]))
                || ((verb == "drain" || (verb == "adm" && ops.contains(&"drain")))
                    && o.has(&["--delete-emptydir-data", "--delete-local-data"]))
                || (verb == "adm" && ops.contains(&"prune") && o.has(&["--confirm"]))
                || (verb == "cnpg" && ops.contains(&"destroy")));
        if deletes {
            self.hit(Category::Infrastructure, "kubectl delete", words, "deletes cluster resources");
        }
        let verb_word =
            o.operands.iter().filter(|w| w.val().is_some()).nth(verb_at).and_then(|v| args.iter().position(|w| std::ptr::eq(w, *v)));
        match (verb, verb_word) {
            // `kubectl exec POD [-c C] -- CMD…`: CMD runs in the pod, as `ssh HOST CMD` runs on the host.
            ("exec", Some(at)) => self.after_positional(&args[at + 1..], c, "cnf", KUBECTL_VALUE_OPTIONS, 1),
            // `kubectl run|debug … -- CMD…`: CMD runs in a new container (which may mount the node's disks).
            ("run" | "debug", Some(at)) => {
                if let Some(dd) = args[at..].iter().position(|w| w.val() == Some("--")) {
                    self.argv(&args[at + dd + 1..], c);
                }
            }
            _ if !deletes => self.blanket(&o, words),
            _ => {}
        }
    }

    /// `docker run [opts] IMAGE [CMD…]` (and `compose run SERVICE CMD…`):
    /// CMD runs in a new container, which may mount the host's files.
    fn container_run(&mut self, after_run: &[Word], c: &Cmd) {
        let mut i = 0;
        let mut entrypoint: Option<Word> = None;
        while let Some(w) = after_run.get(i) {
            let Some(v) = w.val() else {
                self.hit(
                    Category::Unknown,
                    "expansion in arguments",
                    after_run,
                    format!("cannot tell what `{}` makes the container run", w.raw),
                );
                return;
            };
            if v == "--" {
                i += 1;
                break;
            }
            if !v.starts_with('-') || v == "-" {
                break;
            }
            i += 1;
            let (name, value) = v.split_once('=').map_or((v, None), |(n, v)| (n, Some(v)));
            let takes = if name.starts_with("--") {
                value.is_none() && DOCKER_RUN_VALUE_OPTIONS.contains(&name)
            } else {
                name.len() == 2 && "aceghlmpuvw".contains(&name[1..]) && value.is_none()
            };
            let val = if takes {
                i += 1;
                after_run.get(i - 1).cloned()
            } else {
                value.map(Word::literal)
            };
            if name == "--entrypoint" {
                entrypoint = val;
            }
        }
        // The image (or service), then the command.
        let Some(rest) = after_run.get(i + 1..) else { return };
        let mut inner: Vec<Word> = entrypoint.into_iter().collect();
        inner.extend(rest.iter().cloned());
        if !inner.is_empty() {
            self.argv(&inner, c);
        }
    }

    fn docker(&mut self, name: &str, words: &[Word], c: &Cmd) {
        let args = &words[1..];
        // Global options stop at the subcommand; compose has its own
        // (`docker compose -f prod.yml down`: that `-f` is a file, not `rm -f`).
        let globals = |from: usize, compose: bool| -> Option<usize> {
            let (short, long): (&str, &[&str]) = if compose {
                (
                    "fp",
                    &["--file", "--project-name", "--env-file", "--profile", "--project-directory", "--ansi", "--progress", "--parallel"],
                )
            } else {
                (
                    "Hcln",
                    &[
                        "--host",
                        "--context",
                        "--config",
                        "--log-level",
                        "--tlscacert",
                        "--tlscert",
                        "--tlskey",
                        "--url",
                        "--connection",
                        "--identity",
                        "--root",
                        "--runroot",
                        "--storage-driver",
                        "--namespace",
                        "--address",
                        "--runtime",
                        "--snapshotter",
                        "--cgroup-manager",
                        "--events-backend",
                        "--network-cmd-path",
                        "--cni-config-dir",
                        "--data-root",
                        "--hosts-dir",
                        "--tmpdir",
                        "--volumepath",
                        "--imagestore",
                    ],
                )
            };
            let mut i = from;
            while let Some(w) = args.get(i) {
                let v = w.val()?;
                if v == "--" {
                    return Some(i + 1);
                }
                if !v.starts_with('-') || v == "-" {
                    return Some(i);
                }
                let takes = match v.strip_prefix("--") {
                    Some(l) => !l.contains('=') && long.contains(&v),
                    None => v.len() == 2 && short.contains(&v[1..]),
                };
                i += if takes { 2 } else { 1 };
            }
            Some(i)
        };
        let Some(mut at) = globals(0, name.ends_with("compose")) else {
            return self.blanket(&opts(args, "", &[]), words);
        };
        let compose = name.ends_with("compose") || args.get(at).and_then(|w| w.val()) == Some("compose");
        if !name.ends_with("compose") && compose {
            match globals(at + 1, true) {
                Some(next) => at = next,
                None => return self.blanket(&opts(args, "", &[]), words),
            }
        }
        let sub = &args[at.min(args.len())..];
        let o = opts(sub, "", &[]);
        let ops = o.lits();
        let first = ops.first().copied().unwrap_or("");
        let second = ops.get(1).copied().unwrap_or("");
        // `docker exec [opts] CONTAINER CMD…` (and `container exec`, `compose exec SERVICE CMD…`): CMD runs in the container.
        let exec = if first == "exec" {
            Some(1)
        } else if (first, second) == ("container", "exec") {
            Some(2)
        } else {
            None
        };
        if first == "run" || (first, second) == ("container", "run") {
            let k = sub.iter().position(|w| w.val() == Some("run")).map_or(sub.len(), |k| k + 1);
            self.container_run(&sub[k..], c);
            return;
        }
        if let Some(skip) = exec {
            let mut k = 0;
            let mut seen = 0;
            while k < sub.len() && seen < skip {
                if sub[k].val().is_some_and(|v| v == "exec" || v == "container") {
                    seen += 1;
                }
                k += 1;
            }
            self.after_positional(&sub[k..], c, "euwi", &["--env", "--env-file", "--user", "--workdir", "--detach-keys", "--index"], 1);
            return;
        }
        let force = o.has(&["-f", "--force"]);
        let (rule, why) = if compose {
            match first {
                "down" if o.has(&["-v", "--volumes"]) => ("docker volume rm", "removes the project's volumes and their data"),
                "rm" if force => ("docker rm -f", "removes containers, running ones too"),
                _ => return self.blanket(&o, words),
            }
        } else {
            match (first, second) {
                ("rm", _) | ("container", "rm") | ("container", "remove") if force => {
                    ("docker rm -f", "removes containers, running ones too")
                }
                ("volume", "rm" | "remove" | "prune") => ("docker volume rm", "deletes volumes and their data"),
                ("system" | "image" | "container" | "network" | "builder" | "buildx", "prune") | ("prune", _) => {
                    ("docker prune", "deletes unused data in bulk")
                }
                ("system", "reset") | ("machine", "reset") => ("docker prune", "deletes every container, image and volume"),
                ("machine", "rm" | "remove") => ("vm destroy", "deletes the container machine and its disk"),
                ("pod", "rm" | "remove") if force => ("docker rm -f", "removes pods, running ones too"),
                ("stack", "rm" | "remove" | "down") => ("docker rm -f", "removes every service of a stack"),
                ("secret" | "config", "rm" | "remove") => ("docker rm -f", "deletes a swarm secret or config for good"),
                ("swarm", "leave") if force => ("docker rm -f", "leaves the swarm, dropping its state on this node"),
                ("rmi", _) | ("image", "rm") if force => ("docker rm -f", "removes images in use"),
                _ => return self.blanket(&o, words),
            }
        };
        self.hit(Category::Infrastructure, rule, words, why);
    }

    fn aws(&mut self, words: &[Word]) {
        self.cloud_sql(words);
        let o = opts(
            &words[1..],
            "",
            &["--profile", "--region", "--output", "--endpoint-url", "--query", "--bucket", "--key", "--instance-ids", "--cli-input-json"],
        );
        let ops = o.lits();
        // A global option's value the list lacks may come first (`--cli-read-timeout 5`): the service is the word before a
        // deleting command, wherever it stands.
        let at =
            ops.windows(2).position(|p| (p[0] == "s3" && matches!(p[1], "rm" | "rb" | "sync" | "mv")) || aws_deletes(p[1])).unwrap_or(0);
        let (svc, cmd) = (ops.get(at).copied().unwrap_or(""), ops.get(at + 1).copied().unwrap_or(""));
        // The last of `--dry-run` / `--no-dry-run` wins.
        let dry = o.flags.iter().rev().find(|(f, _)| matches!(f.as_str(), "--dryrun" | "--dry-run" | "--no-dry-run"));
        if dry.is_some_and(|(f, _)| f != "--no-dry-run") || o.has(&["--generate-cli-skeleton"]) {
            return;
        }
        let hit = match (svc, cmd) {
            ("s3", "rm") if o.has(&["--recursive"]) => Some(("aws s3 rm --recursive", "deletes every object under a prefix")),
            ("s3", "rb") => Some(("aws s3 rb", "deletes a bucket")),
            ("s3", "sync" | "mv") if o.has(&["--delete"]) || cmd == "mv" && o.has(&["--recursive"]) => {
                Some(("aws s3 sync --delete", "deletes objects at the destination (or the sources)"))
            }
            (_, c) if aws_deletes(c) => Some(("cloud delete", "deletes cloud resources")),
            _ => None,
        };
        match hit {
            Some((rule, why)) => self.hit(Category::Infrastructure, rule, words, why),
            None => self.blanket(&o, words),
        }
    }

    fn curl(&mut self, words: &[Word]) {
        let o = opts(
            &words[1..],
            "XHdFoOuAeEbcKrTwxUmyYzCQ",
            &[
                "--request",
                "--header",
                "--data",
                "--data-raw",
                "--data-binary",
                "--data-urlencode",
                "--form",
                "--output",
                "--user",
                "--user-agent",
                "--referer",
                "--cert",
                "--cookie",
                "--cookie-jar",
                "--config",
                "--range",
                "--upload-file",
                "--write-out",
                "--proxy",
                "--proxy-user",
                "--max-time",
                "--connect-timeout",
                "--retry",
                "--url",
                "--json",
                "--cacert",
                "--key",
                "--resolve",
                "--connect-to",
                "--interface",
                "--quote",
                "--limit-rate",
                "--max-filesize",
                "--variable",
                "--expand-url",
                "--aws-sigv4",
                "--oauth2-bearer",
                "--expand-request",
                "--expand-url",
                "--expand-header",
                "--expand-data",
                "--expand-json",
                "--expand-output",
                "--expand-user",
            ],
        );
        let method = o.flags.iter().rev().find(|(f, _)| flag_is(f, "-X") || flag_is(f, "--request")).and_then(|(_, v)| v.as_deref());
        let method = if o.values(&["-H", "--header"]).any(overrides_to_delete) { Some("DELETE") } else { method };
        // Rails', Laravel's and Symfony's method override (`_method=DELETE` in the body or the query), and a GraphQL
        // mutation whose name deletes (`mutation { deleteRepository(…) }`) delete like a DELETE.
        static OVERRIDE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r#"(?is)(^|[?&\s"'])_method=delete\b|\bmutation\b.*?[{\s]\s*(delete|destroy|remove|purge)[A-Za-z_]*\s*\("#)
                .expect("static regex")
        });
        let overridden = o
            .values(&["-d", "--data", "--data-raw", "--data-binary", "--data-urlencode", "--json", "-F", "--form"])
            .chain(o.lits())
            .any(|v| OVERRIDE.is_match(v));
        let method = if overridden { Some("DELETE") } else { method };
        // Elasticsearch/OpenSearch `_delete_by_query`: a DELETE of every matching document, sent as a POST.
        if o.lits().iter().copied().chain(o.values(&["--url"])).any(|u| u.contains("/_delete_by_query")) {
            self.hit(Category::HttpDelete, "HTTP DELETE", words, "deletes every document the query matches (`_delete_by_query`)");
        }
        // FTP commands sent before or after the transfer (`-Q '-DELE file'`, `RMD`).
        if o.values(&["-Q", "--quote"]).any(|q| {
            let q = q.trim_start_matches(['-', '+', '*']).trim_start().to_ascii_uppercase();
            q.starts_with("DELE ") || q.starts_with("RMD ") || q.starts_with("RM ") || q.starts_with("RMDIR ")
        }) {
            self.hit(Category::HttpDelete, "HTTP DELETE", words, "deletes a file on the server (an FTP/SFTP quote command)");
        }
        // `--expand-request '{{M}}'` with `--variable M=DELETE` (curl 8.3+).
        let expanded = o.value(&["--expand-request"]).map(|m| curl_expand(m, &o));
        let method = match &expanded {
            Some(m) => Some(m.as_str()),
            None => method,
        };
        // `-K -`: options read from standard input.
        let from_config = match (&self.stdin, o.values(&["-K", "--config"]).any(stdin_path)) {
            (Stdin::Text(t), true) => curl_config_method(t),
            (Stdin::Unknown(_), true) => Some("\u{0}unknown".to_owned()),
            _ => None,
        };
        let method = from_config.as_deref().or(method);
        // Every URL (several operands, `--next` parts, globs `{a,b}` / `[1-3]`): the first one a DELETE there would ask for.
        let globs = !o.has(&["-g", "--globoff"]);
        let urls: Vec<String> =
            o.values(&["--url"]).chain(o.lits()).flat_map(|u| if globs { curl_globs(u) } else { vec![u.to_owned()] }).collect();
        let url = urls.iter().find(|u| unknown_value(u) || self.gate.delete_asks(u)).or(urls.first());
        self.http_method(method, url.map(String::as_str), words, &o);
    }

    /// An HTTP request made by a command (`curl -X DELETE`, `wget
    /// --method=DELETE`, `http DELETE`).
    fn http_method(&mut self, method: Option<&str>, url: Option<&str>, words: &[Word], o: &Opts<'_>) {
        match method {
            Some(m) if unknown_value(m) => {
                self.hit(Category::Unknown, "expansion in arguments", words, "cannot tell which HTTP method the request uses");
            }
            Some(m) if m.eq_ignore_ascii_case("DELETE") => {
                let asks = url.is_none_or(|u| unknown_value(u) || self.gate.delete_asks(u));
                if asks {
                    let host = url.and_then(crate::destination).map(|d| d.host).unwrap_or_else(|| "an unknown host".into());
                    self.hit(Category::HttpDelete, "HTTP DELETE", words, format!("an HTTP DELETE to {host}"));
                }
            }
            _ => self.blanket(o, words),
        }
    }

    fn overwrite_target(&mut self, name: &str, words: &[Word]) {
        let o = opts(&words[1..], "tSmog", &["--target-directory", "--suffix", "--mode", "--owner", "--group"]);
        // `cp image.iso /dev/sdb` writes the device, as `dd of=` would.
        if matches!(name, "cp" | "install") {
            let target = o.value(&["-t", "--target-directory"]).or_else(|| o.lits().last().copied().filter(|_| o.operands.len() > 1));
            if let Some(dev) = target.and_then(|t| self.device(t)) {
                self.hit(Category::Destruction, "write to a device", words, format!("writes over the device {dev}"));
                return;
            }
        }
        if !self.level_strict() {
            return;
        }
        if o.has(&["-n", "--no-clobber", "-b", "--backup"]) || o.flags.iter().any(|(f, v)| f == "--update" && v.as_deref() == Some("none"))
        {
            return;
        }
        if name == "ln" && !o.has(&["-f", "--force"]) {
            return;
        }
        if !o.unknown.is_empty() {
            self.hit(Category::Unknown, "expansion in arguments", words, format!("cannot tell what `{name}` replaces"));
            return;
        }
        let ops = o.lits();
        let (target, sources): (Option<&str>, Vec<&str>) = match o.value(&["-t", "--target-directory"]) {
            Some(t) => (Some(t), ops.clone()),
            None if ops.len() >= 2 => (ops.last().copied(), ops[..ops.len() - 1].to_vec()),
            None => (None, vec![]),
        };
        let Some(target) = target else { return };
        let mut over = Vec::new();
        if self.is_dir(target) {
            for s in sources {
                let base = s.trim_end_matches('/').rsplit('/').next().unwrap_or(s);
                let p = format!("{}/{base}", target.trim_end_matches('/'));
                if self.exists(&p) && !self.is_dir(&p) {
                    over.push(p);
                }
            }
        } else if self.exists(target) {
            over.push(target.to_owned());
        }
        if let Some(p) = over.first() {
            self.hit(Category::Overwrite, "overwrite a file", words, format!("`{name}` replaces the existing file {p}"));
        }
    }

    /// For programs with rules: a word whose value is unknown, where an
    /// option could be, might make the command destructive.
    fn blanket(&mut self, o: &Opts<'_>, words: &[Word]) {
        if let Some(w) = o.unknown.first() {
            let w = w.raw.clone();
            let prog = words.first().and_then(|w| w.val()).map(normalise_program).unwrap_or_default();
            self.hit(Category::Unknown, "expansion in arguments", words, format!("cannot tell what `{w}` makes `{prog}` do"));
        }
    }

    /// A program the rules do not know: if one of its arguments names a
    /// program that would be destructive, or is a command line that would
    /// be, it may well run it (an unknown wrapper).
    fn unknown_program(&mut self, name: &str, words: &[Word], c: &Cmd) {
        let args = &words[1..];

        for (i, w) in args.iter().enumerate() {
            let Some(v) = w.val() else { continue };
            let candidates: Vec<&str> = match v.split_once('=') {
                Some((k, val)) if k.starts_with('-') => vec![val],
                _ => vec![v],
            };
            for cand in candidates {
                let inner: Vec<Word> = if cand.contains(char::is_whitespace) {
                    let mut sub = Classifier::new(self.gate, self.env, self.probe, self.cwd.as_deref());
                    sub.depth = self.depth + 1;
                    sub.chain = self.chain;
                    sub.len = self.len;
                    sub.span = self.span.clone();
                    sub.nested(cand);
                    let found = sub.finish();
                    if let Some(f) = found.into_iter().find(|f| f.category != Category::Unknown || f.rule == "unknown wrapper") {
                        self.hit(
                            Category::Unknown,
                            "unknown wrapper",
                            words,
                            format!("cannot tell whether `{name}` runs `{cand}`, which would: {}", f.why),
                        );
                        return;
                    }
                    continue;
                } else if i > 0 || !cand.starts_with('-') {
                    let mut inner = vec![Word::literal(cand)];
                    inner.extend(args[i + 1..].iter().cloned());
                    inner
                } else {
                    continue;
                };
                let inner_name = normalise_program(cand);
                if !is_ruled(&inner_name) {
                    continue;
                }
                let mut sub = Classifier::new(self.gate, self.env, self.probe, self.cwd.as_deref());
                sub.depth = self.depth + 1;
                sub.chain = self.chain;
                sub.len = self.len;
                sub.span = self.span.clone();
                sub.argv(&inner, c);
                if let Some(f) = sub.finish().into_iter().find(|f| f.category != Category::Unknown || f.rule == "unknown wrapper") {
                    self.hit(
                        Category::Unknown,
                        "unknown wrapper",
                        words,
                        format!("cannot tell whether `{name}` runs `{}`, which {}", normalised(&inner), f.why),
                    );
                    return;
                }
            }
        }
        // Nothing it runs is known: what it is told to do may still be. A job's own pattern that names it speaks
        // first (it is more precise than the catch-alls below).
        let shown = normalised(words);
        if self.gate.custom.iter().any(|(_, r)| r.is_match(&shown)) {
            return;
        }
        self.catch_all(name, words);
    }
}

/// Whether an option's value is code: a shell's `-c` (also clustered,
/// `-lc`), an interpreter's `-e`/`--eval`.
fn takes_code(opt: &str) -> bool {
    matches!(opt, "-e" | "-E" | "--eval" | "-r" | "--command" | "-Command" | "-command")
        || (opt.starts_with('-') && !opt.starts_with("--") && opt.ends_with('c'))
}

/// A curl `--expand-*` value with `{{NAME}}` replaced from `--variable
/// NAME=VALUE`; unknown (`\0…`) when a name has no literal value.
fn curl_expand(text: &str, o: &Opts<'_>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        let Some(end) = rest[at..].find("}}") else { break };
        let name = rest[at + 2..at + end].split(':').next().unwrap_or("");
        let value = o.values(&["--variable"]).find_map(|v| v.split_once('=').filter(|(n, _)| *n == name).map(|(_, v)| v));
        match value {
            Some(v) => out.push_str(v),
            None => return "\u{0}unknown".to_owned(),
        }
        rest = &rest[at + end + 2..];
    }
    out.push_str(rest);
    out
}

/// The method a curl config file sets (`request = DELETE`, `-X DELETE`).
fn curl_config_method(config: &str) -> Option<String> {
    static REQ: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?im)^\s*(?:-X|--request|request)\s*(?:[=:]\s*|\s+)"?([A-Za-z]+)"#).expect("static regex")
    });
    REQ.captures_iter(config).last().map(|c| c[1].to_owned())
}

/// Whether a request header makes the server read the request as a DELETE
/// (`X-HTTP-Method-Override: DELETE`, which many frameworks honour).
fn overrides_to_delete(header: &str) -> bool {
    let Some((name, value)) = header.split_once(':') else { return false };
    let name = name.trim().to_ascii_lowercase();
    matches!(name.as_str(), "x-http-method-override" | "x-http-method" | "x-method-override") && value.trim().eq_ignore_ascii_case("delete")
}

/// Whether a program name has a rule or unwraps (worth trying behind an
/// unknown program).
fn is_ruled(n: &str) -> bool {
    const RULED: &[&str] = &[
        "rm",
        "find",
        "xargs",
        "shred",
        "srm",
        "wipe",
        "git",
        "git-push",
        "git-clean",
        "git-reset",
        "git-branch",
        "git-filter-repo",
        "git-filter-branch",
        "bfg",
        "hg",
        "svn",
        "p4",
        "jj",
        "gh",
        "glab",
        "rsync",
        "chmod",
        "chown",
        "chgrp",
        "dd",
        "wipefs",
        "blkdiscard",
        "sgdisk",
        "sfdisk",
        "parted",
        "lvremove",
        "vgremove",
        "pvremove",
        "zpool",
        "zfs",
        "cryptsetup",
        "dropdb",
        "mysqladmin",
        "mariadb-admin",
        "dropuser",
        "pg_dropcluster",
        "usql",
        "mycli",
        "mysqlsh",
        "ysqlsh",
        "beeline",
        "spark-sql",
        "sqlplus",
        "clickhouse-client",
        "influx",
        "flyway",
        "liquibase",
        "psql",
        "mysql",
        "mariadb",
        "sqlite3",
        "duckdb",
        "redis-cli",
        "mongo",
        "mongosh",
        "kubectl",
        "oc",
        "helm",
        "terraform",
        "tofu",
        "pulumi",
        "docker",
        "podman",
        "docker-compose",
        "aws",
        "gcloud",
        "az",
        "gsutil",
        "curl",
        "wget",
        "sudo",
        "doas",
        "env",
        "nice",
        "nohup",
        "timeout",
        "xargs",
        "busybox",
        "ssh",
        "watch",
        "eval",
        "source",
        "setsid",
        "stdbuf",
        "ionice",
        "tar",
        // Copied or linked under another name, Mend is still Mend (its own gate).
        "mend",
    ];
    RULED.contains(&n) || n.starts_with("mkfs") || SHELLS.contains(&n) || is_interpreter(n)
}

fn is_interpreter(n: &str) -> bool {
    n.starts_with("python")
        || n.starts_with("pypy")
        || n.starts_with("perl")
        || matches!(
            n,
            "ruby"
                | "node"
                | "nodejs"
                | "bun"
                | "deno"
                | "php"
                | "lua"
                | "Rscript"
                | "osascript"
                | "pwsh"
                | "powershell"
                | "awk"
                | "gawk"
                | "mawk"
                | "nawk"
                | "julia"
                | "elixir"
                | "tclsh"
                | "wish"
                | "racket"
                | "guile"
        )
}

/// Whether inline code in another language could run commands or delete
/// files. The gate does not parse other languages: it asks when the code
/// names an API that does either (SECURITY.md).
fn inline_code_acts(code: &str) -> bool {
    static ACTS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"(?i)\b(system|exec[a-z_]*|spawn[a-z_]*|popen[0-9]*|subprocess|check_output|child_process|shell_exec|passthru|proc_open|rmtree|remove[a-z_]*|unlink[a-z_]*|rmdir[a-z_]*|rm_r[f]?|rmsync|rm|del|delete[a-z_]*|truncate|drop|kill|chmod|chown|os\.rename|replace|invoke-expression|iex|remove-item|qx|eval|open3|fork|getline|__import__|getattr|importlib|builtins|ctypes)\b|`"#,
        )
        .expect("static regex")
    });
    // Names built at run time (`'rmt'+'ree'`, `"sys"."tem"`, `"exe".."cute"`, `fs["r"+"mSync"]`), reached
    // through a table of names (`__dict__`, `vars(os)`, `send(:…)`), a pipe to a shell (`open(F, "| sh")`,
    // `%x(…)`), or writes over every file of a listing: the name the code calls cannot be read.
    static DYNAMIC: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"(?i)(['"]\s*(\+|\.\.|\.)\s*['"])|__dict__|\bvars\s*\(|\bglobals\s*\(|\b(public_)?send\s*\(|%x[\(\{\[]|['"]\s*\|\s*(sh|bash)\b|&\s*\{|\$[a-z_]\w*\s*\(|posix_spawn"#,
        )
        .expect("static regex")
    });
    static BULK_WRITE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"(?is)(listdir|scandir|\bglob\b|rglob|\bwalk\b|Dir\[|readdirSync|readdir|\bfind\b).*(open\s*\(?[^)]*['"],?\s*['"]?(w|>)|write_bytes|write_text|File\.write|writeFileSync|truncate)|(open\s*\(?[^)]*['"](w|>)['"]?|write_bytes|write_text|File\.write|writeFileSync).*(listdir|scandir|\bglob\b|rglob|\bwalk\b|Dir\[|readdir)"#,
        )
        .expect("static regex")
    });
    ACTS.is_match(code) || DYNAMIC.is_match(code) || BULK_WRITE.is_match(code)
}

/// The command of a crontab line (after the five time fields or an
/// `@reboot`-style nickname); `None` for blank, comment and variable lines.
fn crontab_command(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let first = fields.next()?;
    if !first.starts_with('@') && first.contains('=') {
        return None;
    }
    let skip = if first.starts_with('@') { 0 } else { 4 };
    let mut rest = line[first.len()..].trim_start();
    for _ in 0..skip {
        let f = rest.split_whitespace().next()?;
        rest = rest[f.len()..].trim_start();
    }
    (!rest.is_empty()).then(|| rest.to_owned())
}

/// A makefile line's shell command: a tab-indented recipe line, or what
/// follows the `;` of a rule line (`all: ; rm -rf build`).
fn make_recipe(line: &str) -> Option<String> {
    if let Some(recipe) = line.strip_prefix('\t') {
        return Some(recipe.trim_start_matches(['@', '-', '+']).to_owned());
    }
    let (rule, recipe) = line.split_once(';')?;
    (rule.contains(':') && !rule.trim_start().starts_with('#')).then(|| recipe.trim().to_owned())
}

/// Whether an awk program sends output to a command or reads one's
/// (`print x | "sh"`, `cmd | getline`): a `|` outside strings and regex
/// literals, not `||`, followed by a string or a name.
fn awk_pipes(code: &str) -> bool {
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    // Whether a `/` here starts a regex literal (not a division).
    let mut regex_may_start = true;
    while i < chars.len() {
        let ch = chars[i];
        match ch {
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                regex_may_start = false;
            }
            '/' if regex_may_start => {
                i += 1;
                while i < chars.len() && chars[i] != '/' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                regex_may_start = false;
            }
            '|' if chars.get(i + 1) == Some(&'|') => {
                i += 1;
                regex_may_start = true;
            }
            '|' => {
                let rest: String = chars[i + 1..].iter().collect();
                let rest = rest.trim_start_matches('&').trim_start();
                if rest.starts_with('"') || rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    return true;
                }
                regex_may_start = true;
            }
            c if c.is_whitespace() => {}
            c => regex_may_start = "(,~!{;&=\n".contains(c),
        }
        i += 1;
    }
    false
}

/// The shell command an ex command runs (`!cmd`, `%!cmd`, `r !cmd`,
/// `w !cmd`, `silent !cmd`), after any `:` and range.
fn ex_shell_command(cmd: &str) -> Option<String> {
    let c = cmd.trim_start().trim_start_matches(':').trim_start();
    let c = c.strip_prefix("silent").map(|r| r.trim_start_matches('!').trim_start()).unwrap_or(c);
    let c = c.trim_start_matches(|ch: char| ch.is_ascii_digit() || "%.$,'<>+-".contains(ch)).trim_start();
    if let Some(rest) = c.strip_prefix('!') {
        return Some(rest.to_owned());
    }
    for verb in ["read", "r", "write", "w"] {
        if let Some(rest) = c.strip_prefix(verb) {
            let rest = rest.trim_start();
            // `w !cmd` pipes to a command; `w!` (no space before `!`) only forces the write.
            if let Some(sh) = rest.strip_prefix('!').filter(|_| verb.starts_with('r') || c[verb.len()..].starts_with(char::is_whitespace)) {
                return Some(sh.to_owned());
            }
        }
    }
    None
}

/// Whether a sed program uses the `e` command or the `e` flag of `s`
/// (GNU sed runs a command there).
fn sed_executes(p: &str) -> bool {
    for cmd in p.split([';', '\n']) {
        let cmd = cmd.trim_start_matches(|c: char| c.is_whitespace() || c == '{' || c == '}');
        // Skip an address: a line number, `$`, or `/regex/`.
        let cmd = cmd.trim_start_matches(|c: char| c.is_ascii_digit() || c == '$' || c == ',' || c == '!');
        let cmd = match cmd.strip_prefix('/') {
            Some(rest) => rest.split_once('/').map(|(_, r)| r).unwrap_or(""),
            None => cmd,
        }
        .trim_start();
        if cmd == "e" || cmd.starts_with("e ") {
            return true;
        }
        if let Some(rest) = cmd.strip_prefix('s')
            && let Some(d) = rest.chars().next()
            && !d.is_alphanumeric()
            && !d.is_whitespace()
        {
            let parts: Vec<&str> = rest[d.len_utf8()..].splitn(3, d).collect();
            if parts.len() == 3 && parts[2].chars().take_while(|c| !c.is_whitespace() && *c != '}').any(|c| c == 'e') {
                return true;
            }
        }
    }
    false
}

/// A command's normalised form: program without its directory, each
/// word's value (quoted where a shell would need it), unknown words as
/// written. Allow rules match this.
pub(crate) fn normalised(words: &[Word]) -> String {
    let mut out = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        match w.val() {
            Some(v) if i == 0 => out.push(quote(&normalise_program(v))),
            Some(v) => out.push(quote(v)),
            None => out.push(w.raw.clone()),
        }
    }
    out.join(" ")
}

/// A path that is the command's own standard input (`-`, `/dev/stdin`,
/// `/dev/fd/0`, `/proc/self/fd/0`).
fn stdin_path(p: &str) -> bool {
    matches!(p, "-" | "/dev/stdin" | "/dev/fd/0" | "/proc/self/fd/0" | "/proc/thread-self/fd/0")
}

/// An AWS CLI operation that deletes or gives something up for good
/// (`delete-*`, `batch-delete-*`, `admin-delete-*`, `terminate-*`,
/// `schedule-key-deletion`, `close-account`, `release-address`).
fn aws_deletes(op: &str) -> bool {
    [
        "delete-",
        "terminate-",
        "deregister-",
        "purge-",
        "batch-delete-",
        "admin-delete-",
        "schedule-key-deletion",
        "close-account",
        "release-address",
    ]
    .iter()
    .any(|k| op.starts_with(k))
}

/// Files a login shell or session reads its environment from.
const PROFILES: &[&str] = &[
    ".profile",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".config/fish/config.fish",
    "/etc/environment",
    ".pam_environment",
    "/etc/profile",
    ".config/environment.d/mend.conf",
];

/// sudo's short options that take a value.
const SUDO_SHORT_VALUES: &str = "uCDghprtTUR";

/// sudo's long options that take a value.
const SUDO_LONG_VALUES: &[&str] = &[
    "--user",
    "--group",
    "--chdir",
    "--host",
    "--prompt",
    "--role",
    "--type",
    "--command-timeout",
    "--other-user",
    "--close-from",
    "--chroot",
];
