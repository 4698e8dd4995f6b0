//! Git: pushes, resets, cleans, history rewrites, and the settings and
//! aliases that make git run a command (`-c alias.x=!cmd`, `core.sshCommand`).

#[allow(unused_imports)]
use super::*;

impl Classifier<'_> {
    /// A git setting given with `-c` or written by `git config`: shell
    /// aliases and command-valued keys run their value; plain aliases are
    /// remembered; some settings change what a command does.
    pub(super) fn git_setting(&mut self, key: &str, val: &str, cfg: &mut GitSettings) {
        let k = key.to_ascii_lowercase();
        if let Some(name) = k.strip_prefix("alias.") {
            match val.strip_prefix('!') {
                // `git x ARGS` runs the shell alias with ARGS added: an allow rule does not cover them.
                Some(cmd) => {
                    let saved = std::mem::replace(&mut self.appends, true);
                    self.nested_checked(cmd);
                    self.appends = saved;
                }
                None => {
                    self.git_aliases.insert(name.to_owned(), val.to_owned());
                }
            }
        } else if k.ends_with("sshcommand")
            || k.ends_with(".editor")
            || k.ends_with("pager")
            || k.ends_with(".textconv")
            || k.ends_with("fsmonitor")
            || k.starts_with("credential")
            || k.contains("hook")
            || k.ends_with(".askpass")
            || k.ends_with(".proxycommand")
            || k.ends_with(".gitproxy")
        {
            self.nested_checked(val);
        } else if k == "clean.requireforce" && matches!(val.to_ascii_lowercase().as_str(), "false" | "no" | "off" | "0") {
            cfg.clean_unforced = true;
        } else if k.starts_with("remote.") && k.ends_with(".push") && val.starts_with('+') {
            cfg.forced_push = true;
        } else if k.starts_with("remote.")
            && k.ends_with(".mirror")
            && matches!(val.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1")
        {
            cfg.mirror = true;
        }
    }

    pub(super) fn git(&mut self, words: &[Word], c: &Cmd) {
        let args = &words[1..];
        let mut cfg = GitSettings::default();
        // Global options before the subcommand.
        let mut i = 0;
        while i < args.len() {
            let Some(v) = args[i].val() else {
                self.hit(Category::Unknown, "expansion in arguments", words, format!("cannot tell which git command `{}` is", args[i].raw));
                return;
            };
            match v {
                "-C" | "--git-dir" | "--work-tree" | "--namespace" | "--exec-path" | "--config-env" | "--super-prefix" => i += 2,
                "-c" => {
                    if let Some((k, val)) = args.get(i + 1).and_then(|w| w.val()).and_then(|kv| kv.split_once('=')) {
                        self.git_setting(k, val, &mut cfg);
                    }
                    i += 2;
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
        let mut run: Vec<String> = Vec::new();
        match sub {
            "rebase" => {
                for (j, v) in vals.iter().enumerate() {
                    if matches!(*v, "-x" | "--exec") {
                        run.extend(vals.get(j + 1).map(|s| s.to_string()));
                    } else if let Some(cmd) = v.strip_prefix("--exec=") {
                        run.push(cmd.to_owned());
                    }
                }
            }
            "bisect" if vals.first() == Some(&"run") && vals.len() > 1 => run.push(vals[1..].join(" ")),
            "submodule" => {
                if let Some(at) = vals.iter().position(|v| *v == "foreach") {
                    let cmd: Vec<&str> = vals[at + 1..].iter().copied().filter(|v| !v.starts_with('-')).collect();
                    if !cmd.is_empty() {
                        run.push(cmd.join(" "));
                    }
                }
            }
            _ => {}
        }
        for cmd in run {
            self.nested_checked(&cmd);
        }
        let o = opts(rest, "", &["--repo", "--push-option", "--receive-pack", "--exec", "-m", "--message", "--onto"]);
        let ops = o.lits();
        // `git config [scope] KEY VALUE` (and `git config set KEY VALUE`): the setting holds for later commands too.
        if sub == "config" {
            let kv: Vec<&str> = ops.iter().copied().skip_while(|a| *a == "set").collect();
            if let [k, v, ..] = kv.as_slice()
                && k.contains('.')
            {
                self.git_setting(k, v, &mut cfg);
            }
        }
        let (cat, rule, why) = match sub {
            // A dry run changes nothing on the remote.
            "push" if o.has(&["-n", "--dry-run"]) => return,
            "tag" if o.has(&["-d", "--delete"]) => (Category::HistoryRewrite, "git branch -D", "deletes a tag"),
            "push" if cfg.forced_push => {
                (Category::HistoryRewrite, "git push --force", "a forced refspec in the settings overwrites history on the remote")
            }
            "push" if cfg.mirror => {
                (Category::HistoryRewrite, "git push --mirror", "makes the remote an exact mirror, deleting what is not here")
            }
            "clean" if (o.has(&["-f", "--force"]) || cfg.clean_unforced) && !o.has(&["-n", "--dry-run"]) => {
                (Category::BulkDeletion, "git clean -f", "deletes untracked files")
            }
            "push"
                if o.has(&["-f", "--force"])
                    || o.flags.iter().any(|(f, _)| f.starts_with("--force"))
                    || ops.iter().any(|r| r.starts_with('+') && r.len() > 1) =>
            {
                (Category::HistoryRewrite, "git push --force", "overwrites history on the remote")
            }
            "push" if o.has(&["--mirror"]) => {
                (Category::HistoryRewrite, "git push --mirror", "makes the remote an exact mirror, deleting what is not here")
            }
            "push" if o.has(&["-d", "--delete", "--prune"]) || ops.iter().any(|r| r.starts_with(':') && r.len() > 1) => {
                (Category::HistoryRewrite, "git push --delete", "deletes branches or tags on the remote")
            }
            "reset" if o.has(&["--hard", "--merge"]) => (Category::HistoryRewrite, "git reset --hard", "discards uncommitted work"),
            "checkout" | "switch" if o.has(&["-f", "--force", "--discard-changes"]) => {
                (Category::HistoryRewrite, "git reset --hard", "discards uncommitted work")
            }
            // `git checkout -- .`, `git restore .`: the working tree's changes, all of them.
            "checkout" if ops.iter().any(|p| whole_tree(p)) => {
                (Category::HistoryRewrite, "git reset --hard", "discards every uncommitted change in the working tree")
            }
            "restore" if (!o.has(&["-S", "--staged"]) || o.has(&["-W", "--worktree"])) && ops.iter().any(|p| whole_tree(p)) => {
                (Category::HistoryRewrite, "git reset --hard", "discards every uncommitted change in the working tree")
            }
            "worktree" if ops.first() == Some(&"remove") && o.has(&["-f", "--force"]) => {
                (Category::HistoryRewrite, "git reset --hard", "removes a worktree with its uncommitted work")
            }
            "rm" if o.has(&["-r"]) && o.has(&["-f", "--force"]) && !o.has(&["--cached"]) => {
                (Category::HistoryRewrite, "git reset --hard", "deletes tracked trees, modified files too")
            }
            "submodule" if ops.first() == Some(&"deinit") && o.has(&["-f", "--force"]) => {
                (Category::HistoryRewrite, "git reset --hard", "removes submodule work trees with their uncommitted work")
            }
            "branch" if o.has(&["-D"]) || (o.has(&["-d", "--delete"]) && o.has(&["-f", "--force"])) => {
                (Category::HistoryRewrite, "git branch -D", "deletes a branch that may not be merged")
            }
            "update-ref" if o.has(&["-d"]) => (Category::HistoryRewrite, "git branch -D", "deletes a ref"),
            "stash" if ops.first().is_some_and(|s| matches!(*s, "clear" | "drop")) => {
                (Category::HistoryRewrite, "git stash clear", "discards stashed work")
            }
            "filter-branch" | "filter-repo" => (Category::HistoryRewrite, "git filter-branch", "rewrites every commit"),
            "reflog" if ops.first().is_some_and(|s| matches!(*s, "expire" | "delete")) => {
                (Category::HistoryRewrite, "git reflog expire", "drops the record that lets lost commits be found")
            }
            _ => {
                if matches!(sub, "clean" | "push" | "reset" | "checkout" | "branch" | "stash") {
                    self.blanket(&o, words);
                }
                return;
            }
        };
        let _ = c;
        self.hit(cat, rule, words, why);
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

/// A git pathspec naming the whole working tree.
pub(super) fn whole_tree(p: &str) -> bool {
    matches!(p, "." | "./" | ":/" | ":" | "*" | ":(top)" | ":/*" | ":(glob)**")
}
