//! Git: pushes, resets, cleans, history rewrites, and the settings and
//! aliases that make git run a command (`-c alias.x=!cmd`, `core.sshCommand`).
//! Also the other version-control tools and forge clients (`hg`, `svn`,
//! `p4`, `jj`, `bfg`, `gh`, `glab`) and git's dashed programs (`git-push`).

#[allow(unused_imports)]
use super::*;

/// Prefix of the keys under which [`Classifier::git_aliases`] also keeps
/// the settings `git config` wrote earlier in the call (`git config
/// clean.requireForce false && git clean -dx`): no alias name holds a NUL,
/// so the two never meet.
const WRITTEN_SETTING: &str = "\u{0}config ";

/// How many `GIT_CONFIG_KEY_n` pairs are read at most (git reads as many as
/// `GIT_CONFIG_COUNT` says; more than this asks).
const MAX_ENV_SETTINGS: usize = 64;

/// The value of an environment variable as a git command sees it.
enum EnvValue {
    /// Not set.
    Absent,
    /// Set to this.
    Known(String),
    /// Set by the script to something known only at run time.
    Unknown,
}

impl Classifier<'_> {
    /// A git setting given with `-c`, `--config-env`, `GIT_CONFIG_*` or
    /// written by `git config`: shell aliases and command-valued keys run
    /// their value (checked as a script); `ext::` URLs run a command; plain
    /// aliases are remembered; some settings change what a command does.
    pub(super) fn git_setting(&mut self, key: &str, val: &str, cfg: &mut GitSettings) {
        let k = key.to_ascii_lowercase();
        if let Some(name) = k.strip_prefix("alias.") {
            match val.strip_prefix('!') {
                // `git x ARGS` runs the shell alias with ARGS added: an allow rule does not cover them.
                Some(cmd) => self.git_runs(cmd, true),
                None => {
                    self.git_aliases.insert(name.to_owned(), val.to_owned());
                }
            }
        } else if runs_value(&k) {
            // `diff.external`, `difftool.X.cmd`, `core.fsmonitor`: git runs the value, with arguments added.
            self.git_runs(val, true);
        }
        // `remote.X.url=ext::CMD`, `url.ext::CMD.insteadOf=…`: the ext transport runs CMD.
        if val.starts_with("ext::") {
            self.git_runs(&ext_command(val), false);
        }
        if let Some(base) = key.get(4..).filter(|_| k.starts_with("url.")).and_then(|b| b.rsplit_once('.')).map(|(b, _)| b)
            && base.starts_with("ext::")
        {
            self.git_runs(&ext_command(base), false);
        }
        cfg.apply(&k, val);
    }

    /// A command git runs through the shell, checked as a script; with
    /// `appends`, git adds arguments to it, so an allow rule does not cover it.
    fn git_runs(&mut self, cmd: &str, appends: bool) {
        let add = self.appends || appends;
        let saved = std::mem::replace(&mut self.appends, add);
        self.nested_checked(cmd);
        self.appends = saved;
    }

    /// An environment variable as the git program of `words` (part of the
    /// command `c`) sees it: the inherited environment, unless the script
    /// assigns it; then `NAME=… git`; then `env NAME=… git`.
    fn git_env(&self, c: &Cmd, name: &str) -> EnvValue {
        let mut found =
            if self.assigned.contains(name) { EnvValue::Unknown } else { (self.env)(name).map_or(EnvValue::Absent, EnvValue::Known) };
        for (n, w) in &c.assigns {
            if n == name {
                found = w.val().map_or(EnvValue::Unknown, |v| EnvValue::Known(v.to_owned()));
            }
        }
        // `env NAME=VALUE git …`, `sudo NAME=VALUE git …`: assignments among the wrappers' words.
        for w in &c.words {
            let Some(v) = w.val() else { continue };
            if normalise_program(v).starts_with("git") {
                break;
            }
            if let Some((n, val)) = v.split_once('=')
                && n == name
            {
                found = EnvValue::Known(val.to_owned());
            }
        }
        found
    }

    /// Settings given to git by the environment: `GIT_CONFIG_COUNT` with
    /// `GIT_CONFIG_KEY_n` / `GIT_CONFIG_VALUE_n`, and `GIT_CONFIG_PARAMETERS`
    /// (what `-c` passes on). Each is read like `-c`; one the gate cannot
    /// read asks, as it may define a shell alias or a command to run.
    fn git_env_settings(&mut self, c: &Cmd, words: &[Word], cfg: &mut GitSettings) {
        let mut unknown: Option<&str> = None;
        match self.git_env(c, "GIT_CONFIG_PARAMETERS") {
            EnvValue::Absent => {}
            EnvValue::Unknown => unknown = Some("GIT_CONFIG_PARAMETERS"),
            EnvValue::Known(p) => match config_parameters(&p) {
                Some(pairs) => {
                    for (k, v) in pairs {
                        self.git_setting(&k, &v, cfg);
                    }
                }
                None => unknown = Some("GIT_CONFIG_PARAMETERS"),
            },
        }
        match self.git_env(c, "GIT_CONFIG_COUNT") {
            EnvValue::Absent => {}
            EnvValue::Unknown => unknown = Some("GIT_CONFIG_COUNT"),
            EnvValue::Known(n) => match n.trim().parse::<usize>() {
                Ok(n) if n <= MAX_ENV_SETTINGS => {
                    for i in 0..n {
                        let key = self.git_env(c, &format!("GIT_CONFIG_KEY_{i}"));
                        let val = self.git_env(c, &format!("GIT_CONFIG_VALUE_{i}"));
                        match (key, val) {
                            (EnvValue::Known(k), EnvValue::Known(v)) => self.git_setting(&k, &v, cfg),
                            (EnvValue::Unknown, _) | (_, EnvValue::Unknown) => unknown = Some("GIT_CONFIG_KEY_n"),
                            // git refuses to run without both.
                            _ => {}
                        }
                    }
                }
                Ok(_) => unknown = Some("GIT_CONFIG_COUNT"),
                // git refuses a count that is not a number.
                Err(_) => {}
            },
        }
        if let Some(var) = unknown {
            self.hit(
                Category::Unknown,
                "expansion in arguments",
                words,
                format!("cannot tell which settings `{var}` gives git (a setting can make it run a command)"),
            );
        }
    }

    pub(super) fn git(&mut self, words: &[Word], c: &Cmd) {
        let args = &words[1..];
        let mut cfg = GitSettings::default();
        // Settings `git config` wrote earlier in this call.
        let written: Vec<(String, String)> =
            self.git_aliases.iter().filter_map(|(k, v)| k.strip_prefix(WRITTEN_SETTING).map(|k| (k.to_owned(), v.clone()))).collect();
        for (k, v) in &written {
            cfg.apply(k, v);
        }
        self.git_env_settings(c, words, &mut cfg);
        // Global options before the subcommand.
        let mut i = 0;
        while i < args.len() {
            let Some(v) = args[i].val() else {
                self.hit(Category::Unknown, "expansion in arguments", words, format!("cannot tell which git command `{}` is", args[i].raw));
                return;
            };
            match v {
                "-C" | "--git-dir" | "--work-tree" | "--namespace" | "--exec-path" | "--super-prefix" => i += 2,
                "-c" => {
                    if let Some((k, val)) = args.get(i + 1).and_then(|w| w.val()).and_then(|kv| kv.split_once('=')) {
                        self.git_setting(k, val, &mut cfg);
                    }
                    i += 2;
                }
                // `--config-env=KEY=VAR`: the setting's value is the variable's.
                "--config-env" => {
                    if let Some(spec) = args.get(i + 1).and_then(|w| w.val()) {
                        self.git_config_env(spec, c, words, &mut cfg);
                    }
                    i += 2;
                }
                s if s.starts_with("--config-env=") => {
                    self.git_config_env(&s["--config-env=".len()..], c, words, &mut cfg);
                    i += 1;
                }
                s if s.starts_with('-') => i += 1,
                _ => break,
            }
        }
        let Some(sub) = args.get(i).and_then(|w| w.val()) else { return };
        // `git x` where this call made `x` an alias: read the expansion (once; git refuses loops).
        if let Some(expansion) = self.git_aliases.remove(sub) {
            // `git` and its global options, the expansion, then the alias's own arguments.
            let mut expanded: Vec<Word> = words[..=i].to_vec();
            expanded.extend(expansion.split_whitespace().map(Word::literal));
            expanded.extend(args[i + 1..].iter().cloned());
            self.git(&expanded, c);
            self.git_aliases.insert(sub.to_owned(), expansion);
            return;
        }
        let rest = &args[i + 1..];
        // Commands git runs in a shell (red team): `rebase --exec CMD` /
        // `-x CMD`, `bisect run CMD…`, `submodule foreach CMD`.
        let vals: Vec<&str> = rest.iter().filter_map(|w| w.val()).collect();
        let mut run: Vec<(String, bool)> = Vec::new();
        match sub {
            "rebase" => {
                for (j, v) in vals.iter().enumerate() {
                    if matches!(*v, "-x" | "--exec") {
                        run.extend(vals.get(j + 1).map(|s| (s.to_string(), false)));
                    } else if let Some(cmd) = v.strip_prefix("--exec=") {
                        run.push((cmd.to_owned(), false));
                    }
                }
            }
            "bisect" if vals.first() == Some(&"run") && vals.len() > 1 => run.push((vals[1..].join(" "), false)),
            "submodule" => {
                if let Some(at) = vals.iter().position(|v| *v == "foreach") {
                    let cmd: Vec<&str> = vals[at + 1..].iter().copied().filter(|v| !v.starts_with('-')).collect();
                    if !cmd.is_empty() {
                        run.push((cmd.join(" "), false));
                    }
                }
            }
            // `difftool -x CMD`: CMD runs with each file pair added.
            "difftool" => {
                let d = opts(rest, "xt", &["--extcmd", "--tool"]);
                run.extend(d.values(&["-x", "--extcmd"]).map(|v| (v.to_owned(), true)));
            }
            // `grep -O<pager>`: the pager runs with the matching files.
            "grep" => {
                for v in &vals {
                    if let Some(cmd) = v.strip_prefix("--open-files-in-pager=").or_else(|| v.strip_prefix("-O").filter(|p| !p.is_empty())) {
                        run.push((cmd.to_owned(), true));
                    }
                }
            }
            // `send-email --to-cmd=CMD`, `--cc-cmd`, `--header-cmd`: run per message.
            "send-email" => {
                let s = opts(rest, "", &["--to-cmd", "--cc-cmd", "--header-cmd"]);
                run.extend(s.values(&["--to-cmd", "--cc-cmd", "--header-cmd"]).map(|v| (v.to_owned(), true)));
            }
            _ => {}
        }
        // `fetch --upload-pack=CMD`, `push --receive-pack=CMD`, `clone -u CMD`, `archive --exec=CMD`:
        // for a local or ssh remote, git runs CMD through the shell with the repository added.
        if sub != "rebase" {
            let short = if sub == "clone" { "u" } else { "" };
            let p = opts(rest, short, &["--upload-pack", "--receive-pack", "--exec"]);
            let names: &[&str] = if sub == "clone" { &["-u", "--upload-pack"] } else { &["--upload-pack", "--receive-pack", "--exec"] };
            run.extend(p.values(names).map(|v| (v.to_owned(), true)));
        }
        // `git fetch 'ext::CMD'`: the ext transport runs CMD (when protocol.ext.allow lets it;
        // the gate cannot see the user's settings).
        for v in &vals {
            if v.starts_with("ext::") {
                run.push((ext_command(v), false));
            }
        }
        for (cmd, appends) in run {
            self.git_runs(&cmd, appends);
        }
        let o = opts(
            rest,
            "",
            &["--repo", "--push-option", "--receive-pack", "--upload-pack", "--exec", "-m", "--message", "--onto", "--expire"],
        );
        // `git config [scope] KEY VALUE` (and `git config set KEY VALUE`): the setting holds for later commands too.
        if sub == "config" {
            let co = opts(rest, "f", &["--file", "--blob", "--type", "--default", "--comment", "--value"]);
            let kv: Vec<&str> = co.lits().into_iter().skip_while(|a| *a == "set").collect();
            if let [k, v, ..] = kv.as_slice()
                && k.contains('.')
            {
                self.git_setting(k, v, &mut cfg);
                self.git_aliases.insert(format!("{WRITTEN_SETTING}{}", k.to_ascii_lowercase()), (*v).to_owned());
            } else if let [k] = kv.as_slice()
                && co.has(&["--unset", "--unset-all"])
            {
                self.git_aliases.remove(&format!("{WRITTEN_SETTING}{}", k.to_ascii_lowercase()));
            }
        }
        let Some((cat, rule, why)) = self.git_verdict(sub, rest, &o, &cfg) else {
            if matches!(sub, "clean" | "push" | "reset" | "checkout" | "branch" | "stash" | "send-pack" | "restore" | "switch") {
                self.blanket(&o, words);
            }
            return;
        };
        self.hit(cat, rule, words, why);
    }

    /// `--config-env=KEY=VAR`: KEY set to the value of the variable VAR.
    fn git_config_env(&mut self, spec: &str, c: &Cmd, words: &[Word], cfg: &mut GitSettings) {
        let Some((key, var)) = spec.split_once('=') else { return };
        match self.git_env(c, var) {
            EnvValue::Known(v) => self.git_setting(key, &v, cfg),
            EnvValue::Unknown => self.hit(
                Category::Unknown,
                "expansion in arguments",
                words,
                format!("cannot tell what `--config-env` sets `{key}` to: `{var}` is only known at run time"),
            ),
            // git refuses a variable that is not set.
            EnvValue::Absent => {}
        }
    }

    /// The rule a git subcommand (its arguments `rest`, read as `o`, with
    /// the settings `cfg`) falls under, if any.
    fn git_verdict(&self, sub: &str, rest: &[Word], o: &Opts<'_>, cfg: &GitSettings) -> Option<(Category, &'static str, String)> {
        let ops = o.lits();
        let hist = |rule: &'static str, why: &str| Some((Category::HistoryRewrite, rule, why.to_owned()));
        // Options read as git reads them: the last of `--dry-run` / `--no-dry-run` wins.
        let dry = last_set(o, &["-n", "--dry-run"], &["--no-dry-run"]);
        match sub {
            // `send-pack` is the plumbing under `push`: the same refspecs and options.
            "push" | "send-pack" => {
                if dry {
                    return None;
                }
                let forced = last_set(o, &["-f", "--force"], &["--no-force"])
                    // git takes any unambiguous prefix: `--force-w=REF:SHA` is `--force-with-lease`.
                    || o.flags.iter().any(|(f, _)| f.starts_with("--force-with-lease") || (f.len() > "--force-".len() && "--force-with-lease".starts_with(f.as_str())) || f.starts_with("--force-if-includes"))
                    || ops.iter().any(|r| r.starts_with('+') && r.len() > 1);
                if forced || cfg.forced_push {
                    let why = if forced {
                        "overwrites history on the remote"
                    } else {
                        "a forced refspec in the settings overwrites history on the remote"
                    };
                    return hist("git push --force", why);
                }
                if o.has(&["--mirror"]) || cfg.mirror {
                    return hist("git push --mirror", "makes the remote an exact mirror, deleting what is not here");
                }
                if o.has(&["-d", "--delete", "--prune"]) || ops.iter().any(|r| r.starts_with(':') && r.len() > 1) {
                    return hist("git push --delete", "deletes branches or tags on the remote");
                }
                None
            }
            "clean" => {
                let forced = last_set(o, &["-f", "--force"], &["--no-force"]);
                ((forced || cfg.clean_unforced) && !dry && !o.has(&["-i", "--interactive"]))
                    .then(|| (Category::BulkDeletion, "git clean -f", "deletes untracked files".to_owned()))
            }
            "tag" if o.has(&["-d", "--delete"]) => hist("git branch -D", "deletes a tag"),
            // Moving a release tag to another commit.
            "tag" if o.has(&["-f", "--force"]) && !ops.is_empty() => hist("git branch -D", "moves an existing tag to another commit"),
            "reset" if o.has(&["--hard", "--merge"]) => hist("git reset --hard", "discards uncommitted work"),
            "checkout" | "switch" if o.has(&["-f", "--force", "--discard-changes"]) => {
                hist("git reset --hard", "discards uncommitted work")
            }
            // `checkout -B NAME REV`, `switch -C NAME REV`: the branch is reset, its own commits dropped.
            "checkout" if opts(rest, "bB", &["--orphan", "--conflict"]).has(&["-B"]) => {
                hist("git branch -D", "resets an existing branch to another commit, dropping the commits only it had")
            }
            "switch" if opts(rest, "cC", &["--create", "--force-create", "--orphan", "--conflict"]).has(&["-C", "--force-create"]) => {
                hist("git branch -D", "resets an existing branch to another commit, dropping the commits only it had")
            }
            // `git checkout [REV] -- src/`: the changes to every file under the paths are overwritten.
            "checkout" => {
                let co = opts(rest, "bB", &["--orphan", "--conflict", "--pathspec-from-file"]);
                if co.has(&["-p", "--patch"]) {
                    return None;
                }
                let after_dashes = rest.iter().position(|w| w.val() == Some("--"));
                let bulk = match after_dashes {
                    Some(at) => rest[at + 1..].iter().filter_map(|w| w.val()).any(|p| self.bulk_pathspec(p, true)),
                    None => {
                        let cops = co.lits();
                        match cops.as_slice() {
                            // One operand may be a branch: only a plain path form counts.
                            [one] => self.bulk_pathspec(one, false),
                            [_, paths @ ..] => paths.iter().any(|p| self.bulk_pathspec(p, true)),
                            [] => false,
                        }
                    }
                };
                (bulk || co.has(&["--pathspec-from-file"]))
                    .then(|| (Category::HistoryRewrite, "git reset --hard", "discards the uncommitted changes of many files".to_owned()))
            }
            // `git restore src/`, `git restore .`: the working tree's changes under the paths.
            "restore" => {
                let r = opts(rest, "s", &["--source", "--conflict", "--pathspec-from-file"]);
                let worktree = !r.has(&["-S", "--staged"]) || r.has(&["-W", "--worktree"]);
                let bulk = r.lits().iter().any(|p| self.bulk_pathspec(p, true)) || r.has(&["--pathspec-from-file"]);
                (worktree && bulk && !r.has(&["-p", "--patch"]))
                    .then(|| (Category::HistoryRewrite, "git reset --hard", "discards the uncommitted changes of many files".to_owned()))
            }
            // `read-tree -u --reset`: the index and working tree set to a tree, changes dropped.
            "read-tree" if o.has(&["--reset"]) && o.has(&["-u"]) => hist("git reset --hard", "discards every uncommitted change"),
            "worktree" if ops.first() == Some(&"remove") && o.has(&["-f", "--force"]) => {
                hist("git reset --hard", "removes a worktree with its uncommitted work")
            }
            "rm" if o.has(&["-r"]) && o.has(&["-f", "--force"]) && !o.has(&["--cached"]) => {
                hist("git reset --hard", "deletes tracked trees, modified files too")
            }
            "submodule" if ops.first() == Some(&"deinit") && o.has(&["-f", "--force"]) => {
                hist("git reset --hard", "removes submodule work trees with their uncommitted work")
            }
            "branch" if o.has(&["-D"]) || (o.has(&["-d", "--delete"]) && o.has(&["-f", "--force"])) => {
                hist("git branch -D", "deletes a branch that may not be merged")
            }
            // `branch -f NAME REV`: an existing branch moved, the commits only it had dropped.
            "branch"
                if o.has(&["-f", "--force"])
                    && !ops.is_empty()
                    && !o.has(&["-d", "--delete", "-m", "-M", "--move", "-c", "-C", "--copy", "--list", "-l", "--edit-description"]) =>
            {
                hist("git branch -D", "moves an existing branch to another commit, dropping the commits only it had")
            }
            "update-ref" if o.has(&["-d"]) => hist("git branch -D", "deletes a ref"),
            // `update-ref refs/heads/main REV`: a branch, tag or HEAD moved anywhere; `--stdin` may do anything.
            "update-ref"
                if o.has(&["--stdin"])
                    || ops.first().is_some_and(|r| r.starts_with("refs/heads/") || r.starts_with("refs/tags/") || *r == "HEAD") =>
            {
                hist("git branch -D", "moves a branch or tag to another commit, dropping the commits only it had")
            }
            "stash" if ops.first().is_some_and(|s| matches!(*s, "clear" | "drop")) => hist("git stash clear", "discards stashed work"),
            "filter-branch" | "filter-repo" => hist("git filter-branch", "rewrites every commit"),
            "reflog" if ops.first().is_some_and(|s| matches!(*s, "expire" | "delete")) => {
                hist("git reflog expire", "drops the record that lets lost commits be found")
            }
            // `prune` with no `--expire` (or `now`) deletes every unreachable object at once.
            "prune" if !dry && o.value(&["--expire"]).is_none_or(expires_now) => {
                hist("git reflog expire", "deletes unreachable commits for good, recent ones too")
            }
            "gc" if o.value(&["--prune"]).is_some_and(expires_now) => {
                hist("git reflog expire", "deletes unreachable commits for good, recent ones too")
            }
            _ => None,
        }
    }

    /// A pathspec that names many files, so restoring it discards the
    /// changes of all of them: the whole tree (`.`, `..`, `:/`, `**`), a
    /// glob (`*.rs`), an exclusion (`:!README.md`: every other file), or a
    /// directory (`src/`; with `guess_dir`, also a plain lower-case name
    /// without an extension, `src`, that the probe does not show as a
    /// file). A single named file (`README.md`) is not.
    fn bulk_pathspec(&self, p: &str, guess_dir: bool) -> bool {
        if whole_tree(p) {
            return true;
        }
        let Some(magic) = p.strip_prefix(':') else { return self.bulk_path(p, false, guess_dir) };
        if magic.starts_with(['!', '^']) {
            return true;
        }
        if let Some(long) = magic.strip_prefix('(') {
            let Some((words, path)) = long.split_once(')') else { return true };
            let words: Vec<&str> = words.split(',').map(str::trim).collect();
            if words.iter().any(|m| m.starts_with("exclude")) || path.is_empty() {
                return true;
            }
            return self.bulk_path(path, words.contains(&"literal"), true);
        }
        let after = magic.trim_start_matches('/');
        let after = after.strip_prefix(':').unwrap_or(after);
        after.is_empty() || self.bulk_path(after, false, true)
    }

    /// [`Self::bulk_pathspec`] for a path without magic.
    fn bulk_path(&self, p: &str, literal: bool, guess_dir: bool) -> bool {
        if !literal && p.contains(['*', '?', '[']) {
            return true;
        }
        let t = p.trim_end_matches('/');
        if p.ends_with('/') || t.split('/').all(|s| matches!(s, "" | "." | "..")) {
            return true;
        }
        if !guess_dir {
            return false;
        }
        if self.probe.is_some() && self.exists(t) {
            return self.is_dir(t);
        }
        let base = t.rsplit('/').next().unwrap_or(t);
        !base.contains('.') && base.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_')
    }

    /// Programs routed here from the dispatcher: git's dashed programs
    /// (`git-push`, `/usr/lib/git-core/git-clean`), BFG (`bfg`, `java -jar
    /// bfg.jar`), Mercurial, Subversion, Perforce, Jujutsu and the GitHub
    /// and GitLab clients. Each rewrites history, deletes repositories or
    /// discards work in ways the git rules name.
    pub(super) fn vcs(&mut self, name: &str, words: &[Word], c: &Cmd) {
        let args = &words[1..];
        let before = self.out.len();
        match name {
            // `git-push ARGS` is `git push ARGS`.
            _ if name.starts_with("git-") => {
                let mut w = vec![Word::literal("git"), Word::literal(&name["git-".len()..])];
                w.extend(args.iter().cloned());
                self.git(&w, c);
                // An external `git-foo` is a program of its own: it may run what it is given.
                if self.out.len() == before {
                    self.unknown_program(name, words, c);
                }
            }
            "bfg" => self.bfg(args, words),
            "java" => {
                let jar = args.iter().position(|w| w.val() == Some("-jar"));
                let is_bfg = jar.and_then(|j| args.get(j + 1)).and_then(|w| w.val()).is_some_and(|j| {
                    let base = j.rsplit('/').next().unwrap_or(j).to_ascii_lowercase();
                    base.starts_with("bfg") && base.ends_with(".jar")
                });
                match jar {
                    Some(j) if is_bfg => self.bfg(args.get(j + 2..).unwrap_or_default(), words),
                    _ => self.unknown_program(name, words, c),
                }
            }
            "hg" => self.hg(args, words),
            "svn" => self.svn(args, words),
            "p4" => self.p4(args, words),
            "jj" => self.jj(args, words, c),
            "gh" => self.forge(args, words, "api.github.com"),
            "glab" => self.forge(args, words, "gitlab.com"),
            _ => self.unknown_program(name, words, c),
        }
    }

    /// BFG Repo-Cleaner: any run but `--help` / `--version` rewrites every
    /// commit of the repository.
    fn bfg(&mut self, args: &[Word], words: &[Word]) {
        let acts = args.iter().any(|w| !matches!(w.val(), Some("--help" | "-h" | "--version")));
        if acts {
            self.hit(Category::HistoryRewrite, "git filter-branch", words, "BFG rewrites every commit of the repository");
        }
    }

    /// Mercurial: `strip` (history), `purge` (untracked files), `revert
    /// --all` / of a directory and `update --clean` (uncommitted work);
    /// `--config alias.x=!CMD` and `hooks.*` run a command.
    fn hg(&mut self, args: &[Word], words: &[Word]) {
        let value_opts = ["-R", "--repository", "--cwd", "--config", "--encoding", "--encodingmode", "--color", "--pager"];
        let mut i = 0;
        let setting = |this: &mut Self, kv: &str| {
            let Some((k, v)) = kv.split_once('=') else { return };
            let k = k.to_ascii_lowercase();
            if k.starts_with("alias.")
                && let Some(cmd) = v.strip_prefix('!')
            {
                this.git_runs(cmd, true);
            } else if k.starts_with("hooks.") || k.ends_with(".editor") || k == "ui.merge" || k.ends_with(".executable") {
                this.git_runs(v, true);
            }
        };
        while i < args.len() {
            let Some(v) = args[i].val() else {
                self.hit(Category::Unknown, "expansion in arguments", words, format!("cannot tell which hg command `{}` is", args[i].raw));
                return;
            };
            if let Some(kv) = v.strip_prefix("--config=") {
                setting(self, kv);
                i += 1;
            } else if value_opts.contains(&v) {
                if v == "--config"
                    && let Some(kv) = args.get(i + 1).and_then(|w| w.val())
                {
                    setting(self, kv);
                }
                i += 2;
            } else if v.starts_with('-') {
                i += 1;
            } else {
                break;
            }
        }
        let Some(sub) = args.get(i).and_then(|w| w.val()) else { return };
        let rest = &args[i + 1..];
        let o = opts(rest, "rIXmldueRt", &["--rev", "--include", "--exclude", "--message", "--logfile", "--date", "--user", "--tool"]);
        let found = match sub {
            "strip" | "debugstrip" => {
                Some((Category::HistoryRewrite, "git filter-branch", "strips changesets from the repository's history"))
            }
            "purge" | "clean" if !o.has(&["-p", "--print", "--print0"]) => {
                Some((Category::BulkDeletion, "git clean -f", "deletes untracked files (with --all, ignored ones too)"))
            }
            "revert"
                if !o.has(&["-n", "--dry-run", "-i", "--interactive"])
                    && (o.has(&["-a", "--all"]) || o.lits().iter().any(|p| self.bulk_path(p, false, true))) =>
            {
                Some((Category::HistoryRewrite, "git reset --hard", "discards the uncommitted changes of many files"))
            }
            "update" | "up" | "checkout" | "co" if o.has(&["-C", "--clean"]) => {
                Some((Category::HistoryRewrite, "git reset --hard", "discards every uncommitted change"))
            }
            _ => None,
        };
        if let Some((cat, rule, why)) = found {
            self.hit(cat, rule, words, why);
        }
    }

    /// Subversion: `revert -R` (uncommitted work), `delete URL` (on the
    /// server), `cleanup --remove-unversioned`; `--editor-cmd`,
    /// `--diff-cmd`, `--diff3-cmd` run a command.
    fn svn(&mut self, args: &[Word], words: &[Word]) {
        let o = opts(
            args,
            "mFrclx",
            &[
                "--message",
                "--file",
                "--revision",
                "--change",
                "--limit",
                "--depth",
                "--set-depth",
                "--username",
                "--password",
                "--config-dir",
                "--config-option",
                "--targets",
                "--encoding",
                "--editor-cmd",
                "--diff-cmd",
                "--diff3-cmd",
                "--extensions",
            ],
        );
        let cmds: Vec<String> = o.values(&["--editor-cmd", "--diff-cmd", "--diff3-cmd"]).map(str::to_owned).collect();
        for cmd in cmds {
            self.git_runs(&cmd, true);
        }
        let ops = o.lits();
        let Some(sub) = ops.first() else { return };
        let found = match *sub {
            "revert" if o.has(&["-R", "--recursive"]) || o.value(&["--depth"]) == Some("infinity") => {
                Some((Category::HistoryRewrite, "git reset --hard", "discards every uncommitted change under the paths"))
            }
            "delete" | "del" | "remove" | "rm" if ops[1..].iter().any(|p| p.contains("://") || p.starts_with("^/")) => {
                Some((Category::HistoryRewrite, "git push --delete", "deletes paths in the repository on the server"))
            }
            "cleanup" if o.has(&["--remove-unversioned", "--remove-ignored"]) => {
                Some((Category::BulkDeletion, "git clean -f", "deletes unversioned files"))
            }
            _ => None,
        };
        if let Some((cat, rule, why)) = found {
            self.hit(cat, rule, words, why);
        }
    }

    /// Perforce: `obliterate -y` (history, for good), `revert` of a
    /// wildcard (uncommitted work), `clean` (local files).
    fn p4(&mut self, args: &[Word], words: &[Word]) {
        let value_opts = ["-c", "-C", "-d", "-H", "-L", "-p", "-P", "-Q", "-r", "-u", "-x", "-z"];
        let mut i = 0;
        while i < args.len() {
            let Some(v) = args[i].val() else { return };
            if value_opts.contains(&v) {
                i += 2;
            } else if v.starts_with('-') {
                i += 1;
            } else {
                break;
            }
        }
        let Some(sub) = args.get(i).and_then(|w| w.val()) else { return };
        let rest = args.get(i + 1..).unwrap_or_default();
        let o = opts(rest, "cCt", &[]);
        let found = match sub {
            "obliterate" if o.has(&["-y"]) => {
                Some((Category::HistoryRewrite, "git filter-branch", "erases files and their history from the depot"))
            }
            "revert" if !o.has(&["-a", "-k", "-n"]) && o.lits().iter().any(|p| p.contains("...") || p.contains('*')) => {
                Some((Category::HistoryRewrite, "git reset --hard", "discards the changes of every opened file it matches"))
            }
            "clean" if !o.has(&["-n"]) => Some((Category::BulkDeletion, "git clean -f", "deletes local files the depot does not have")),
            _ => None,
        };
        if let Some((cat, rule, why)) = found {
            self.hit(cat, rule, words, why);
        }
    }

    /// Jujutsu: `abandon` (changes), `op abandon` (operation history),
    /// `restore` of everything, `bookmark delete`; `util exec` runs a
    /// program.
    fn jj(&mut self, args: &[Word], words: &[Word], c: &Cmd) {
        let o = opts(
            args,
            "Rr",
            &[
                "--repository",
                "--at-op",
                "--at-operation",
                "--config",
                "--config-toml",
                "--config-file",
                "--color",
                "--from",
                "--into",
                "--to",
                "--revision",
                "--revisions",
                "--changes-in",
            ],
        );
        let ops = o.lits();
        if ops.first() == Some(&"util") && ops.get(1) == Some(&"exec") {
            let at = args.iter().position(|w| w.val() == Some("exec")).map_or(args.len(), |a| a + 1);
            let mut inner = args.get(at..).unwrap_or_default();
            if inner.first().and_then(|w| w.val()) == Some("--") {
                inner = &inner[1..];
            }
            if !inner.is_empty() {
                self.argv(inner, c);
            }
            return;
        }
        let found = match ops.as_slice() {
            ["abandon", ..] => Some((Category::HistoryRewrite, "git branch -D", "abandons changes, dropping their work")),
            ["op" | "operation", "abandon", ..] => Some((Category::HistoryRewrite, "git reflog expire", "drops the operation history")),
            ["restore"] => Some((Category::HistoryRewrite, "git reset --hard", "discards every change of the working copy")),
            ["restore", paths @ ..] if paths.iter().any(|p| self.bulk_pathspec(p, true)) => {
                Some((Category::HistoryRewrite, "git reset --hard", "discards the changes of many files"))
            }
            ["bookmark" | "branch", "delete" | "forget", ..] => Some((Category::HistoryRewrite, "git branch -D", "deletes a bookmark")),
            _ => None,
        };
        if let Some((cat, rule, why)) = found {
            self.hit(cat, rule, words, why);
        }
    }

    /// The GitHub and GitLab clients (`gh`, `glab`): `repo delete`,
    /// `release delete`, `api -X DELETE`, any other `… delete` (an HTTP
    /// DELETE to the forge's API); `alias set` of a shell alias.
    fn forge(&mut self, args: &[Word], words: &[Word], api_host: &str) {
        let o = opts(
            args,
            "XfFHpqtR",
            &[
                "--method",
                "--field",
                "--raw-field",
                "--header",
                "--input",
                "--jq",
                "--template",
                "--preview",
                "--hostname",
                "--cache",
                "--repo",
            ],
        );
        let ops = o.lits();
        let host = o.value(&["--hostname"]).unwrap_or(api_host).to_owned();
        let found = match ops.as_slice() {
            ["repo", "delete", ..] => Some((Category::HistoryRewrite, "git push --delete", "deletes the repository on the server")),
            ["release", "delete", ..] => {
                Some((Category::HistoryRewrite, "git branch -D", "deletes a release (and with --cleanup-tag its tag)"))
            }
            ["api", path, ..] => {
                if let Some(m) = o.value(&["-X", "--method"]) {
                    let url =
                        if path.contains("://") { (*path).to_owned() } else { format!("https://{host}/{}", path.trim_start_matches('/')) };
                    self.http_method(Some(m), Some(&url), words, &o);
                }
                None
            }
            ["alias", "set", _, expansion, ..] => {
                let shell = o.has(&["-s", "--shell"]);
                match expansion.strip_prefix('!') {
                    Some(cmd) => self.git_runs(cmd, true),
                    None if shell => self.git_runs(expansion, true),
                    None => {}
                }
                None
            }
            [group, "delete" | "delete-asset", ..] if *group != "alias" && *group != "config" => {
                let url = format!("https://{host}/");
                self.http_method(Some("DELETE"), Some(&url), words, &o);
                None
            }
            _ => None,
        };
        if let Some((cat, rule, why)) = found {
            self.hit(cat, rule, words, why);
        }
    }
}

/// Settings given to one git command that change what it does.
#[derive(Default)]
pub(super) struct GitSettings {
    /// `clean.requireForce=false`: `git clean` deletes without `-f`.
    clean_unforced: bool,
    /// `remote.X.push=+…`: a plain `git push` forces.
    forced_push: bool,
    /// `remote.X.mirror=true`: a plain `git push` mirrors.
    mirror: bool,
}

impl GitSettings {
    /// Takes in one setting (`key` lower-cased); a later value of the same
    /// key replaces an earlier one, as in git.
    fn apply(&mut self, key: &str, val: &str) {
        let v = val.trim().to_ascii_lowercase();
        let truthy = matches!(v.as_str(), "true" | "yes" | "on" | "1" | "");
        if key == "clean.requireforce" {
            self.clean_unforced = !truthy;
        } else if key.starts_with("remote.") && key.ends_with(".push") && val.starts_with('+') {
            self.forced_push = true;
        } else if key.starts_with("remote.") && key.ends_with(".mirror") {
            self.mirror = truthy;
        }
    }
}

/// Whether git runs the value of this (lower-cased) setting as a command:
/// editors, pagers, external diff and merge tools, filters and drivers,
/// credential helpers, hooks, proxies, fsmonitor hooks.
fn runs_value(k: &str) -> bool {
    let (section, name) = match (k.split_once('.'), k.rsplit_once('.')) {
        (Some((s, _)), Some((_, n))) => (s, n),
        _ => return false,
    };
    k.ends_with("sshcommand")
        || k.ends_with(".editor")
        || k.ends_with("pager")
        || section == "pager"
        || k.ends_with(".textconv")
        || k.ends_with("fsmonitor")
        || k.starts_with("credential")
        || k.contains("hook")
        || k.ends_with(".askpass")
        || k.ends_with(".proxycommand")
        || k.ends_with(".gitproxy")
        || k == "diff.external"
        || k == "interactive.difffilter"
        || k == "core.alternaterefscommand"
        || (matches!(section, "difftool" | "mergetool" | "browser" | "man" | "trailer") && matches!(name, "cmd" | "command" | "path"))
        || (section == "diff" && name == "command")
        || (section == "merge" && name == "driver")
        || (section == "filter" && matches!(name, "clean" | "smudge" | "process"))
        || (section == "gpg" && name == "program")
        || (section == "remote" && matches!(name, "uploadpack" | "receivepack"))
        || (section == "sendemail" && (name.ends_with("cmd") || name == "smtpserver"))
        || (section == "web" && name == "browser")
        || (section == "sequence" && name == "editor")
}

/// The command the `ext::` transport runs for a URL, as a script: words
/// split at spaces, `% ` a space inside a word, `%%` a percent sign, `%s`
/// / `%S` the service name; `%G…` (a git:// request) dropped.
fn ext_command(url: &str) -> String {
    let body = url.get("ext::".len()..).unwrap_or("");
    let mut words: Vec<String> = vec![String::new()];
    let mut chars = body.chars();
    let mut skip_word = false;
    while let Some(ch) = chars.next() {
        if ch == ' ' {
            skip_word = false;
            if words.last().is_some_and(|w| !w.is_empty()) {
                words.push(String::new());
            }
            continue;
        }
        if skip_word {
            continue;
        }
        let add: String = match ch {
            '%' => match chars.next() {
                Some(' ') => " ".into(),
                Some('%') => "%".into(),
                Some('s') => "upload-pack".into(),
                Some('S') => "git-upload-pack".into(),
                Some('G') | Some('V') => {
                    skip_word = true;
                    String::new()
                }
                Some(other) => other.to_string(),
                None => String::new(),
            },
            other => other.to_string(),
        };
        if let Some(w) = words.last_mut() {
            w.push_str(&add);
        }
    }
    words.iter().filter(|w| !w.is_empty()).map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

/// `GIT_CONFIG_PARAMETERS` read as git reads it: shell-quoted
/// `'key'='value'` pairs (or the older `'key=value'`), separated by
/// spaces. `None` when it is not in that form.
fn config_parameters(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    loop {
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        if it.peek().is_none() {
            return Some(out);
        }
        let key = sq_token(&mut it)?;
        if it.peek() == Some(&'=') {
            it.next();
            let val = sq_token(&mut it).unwrap_or_default();
            out.push((key, val));
        } else {
            let (k, v) = key.split_once('=').unwrap_or((&key, ""));
            out.push((k.to_owned(), v.to_owned()));
        }
        if it.peek().is_some_and(|c| !c.is_whitespace()) {
            return None;
        }
    }
}

/// One shell-quoted word as git writes it: `'…'` pieces and `\x` escapes.
fn sq_token(it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    let mut out = String::new();
    let mut any = false;
    loop {
        match it.peek() {
            Some('\'') => {
                it.next();
                loop {
                    match it.next()? {
                        '\'' => break,
                        ch => out.push(ch),
                    }
                }
                any = true;
            }
            Some('\\') => {
                it.next();
                out.push(it.next()?);
                any = true;
            }
            _ => break,
        }
    }
    any.then_some(out)
}

/// Whether the last of the options in `on` and `off` given is one of `on`
/// (git reads options in order: `--dry-run --no-dry-run` is no dry run).
fn last_set(o: &Opts<'_>, on: &[&str], off: &[&str]) -> bool {
    o.flags
        .iter()
        .rev()
        .find_map(|(f, _)| {
            if off.iter().any(|n| flag_is(f, n)) {
                Some(false)
            } else if on.iter().any(|n| flag_is(f, n)) {
                Some(true)
            } else {
                None
            }
        })
        .unwrap_or(false)
}

/// An expiry (`prune --expire`, `gc --prune`) that takes every unreachable
/// object, recent ones too.
fn expires_now(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "now" | "all")
}

/// A git pathspec naming the whole working tree.
pub(super) fn whole_tree(p: &str) -> bool {
    matches!(p, "." | "./" | ":/" | ":" | "*" | ":(top)" | ":/*" | ":(glob)**" | "**" | ".." | "../")
}
