//! The system and its neighbours (the red team of the gate, after issue
//! 17): stopping the machine, removing what it cannot run without,
//! withdrawing published packages, commands smuggled through network and
//! archive tools, Mend's own gate, and the two kinds that catch programs
//! the gate has no rule for — a destructive subcommand, a block device
//! operand.

#[allow(unused_imports)]
use super::*;

/// Subcommand words that destroy or withdraw something, whatever the
/// program (`fly apps destroy`, `gh repo delete`, `restic forget`). Read on
/// the first four words that are not options, split at `-`, `_`, `:`, `.`
/// and case changes.
const DESTROY_VERBS: &[&str] = &[
    "delete",
    "del",
    "destroy",
    "remove",
    "rm",
    "purge",
    "drop",
    "dropall",
    "prune",
    "wipe",
    "nuke",
    "terminate",
    "unpublish",
    "yank",
    "obliterate",
    "erase",
    "truncate",
    "forget",
    "abandon",
    "reset",
    "rebuild",
    "revert",
    "strip",
    "zap",
    "deltree",
    "rmdir",
    "rmtree",
    "deleteall",
    "removeall",
    "rmr",
    "expunge",
    "flush",
    "nuke",
];

/// Long-option words that make an unknown program delete (`--purge`,
/// `--delete-destination`, `--accept-data-loss`).
const DESTROY_OPTION_WORDS: &[&str] =
    &["delete", "destroy", "purge", "wipe", "prune", "drop", "nuke", "obliterate", "erase", "remove", "expunge"];

/// File extensions: a word ending in one is a file name, not a subcommand
/// (`notes-to-delete.txt`).
const FILE_EXTENSIONS: &[&str] = &[
    "txt", "json", "yaml", "yml", "toml", "sql", "csv", "log", "md", "py", "js", "ts", "rb", "sh", "tar", "gz", "zip", "img", "iso",
    "conf", "cfg", "ini", "xml", "html", "lock", "db", "bak", "tf", "tfplan", "env",
];

/// The words of a subcommand: split at `-`, `_`, `:`, `.`, and where a
/// lower-case letter meets an upper-case one (`dropAll` → drop, all).
pub(super) fn verb_parts(w: &str) -> Vec<String> {
    let mut parts = Vec::new();
    for piece in w.split(['-', '_', ':', '.']) {
        let mut cur = String::new();
        let mut prev_lower = false;
        for ch in piece.chars() {
            if ch.is_uppercase() && prev_lower && !cur.is_empty() {
                parts.push(std::mem::take(&mut cur));
            }
            prev_lower = ch.is_lowercase();
            cur.extend(ch.to_lowercase());
        }
        if !cur.is_empty() {
            parts.push(cur);
        }
    }
    parts
}

/// The destructive subcommand or option of a program the gate has no rule
/// for, if any (see [`DESTROY_VERBS`]); `--help` anywhere means it only
/// prints help.
pub(super) fn destructive_verb(args: &[Word]) -> Option<String> {
    let vals: Vec<&str> = args.iter().filter_map(|w| w.val()).collect();
    // `--help`, `--dry-run`, `--what-if` before any `--`, and not right after an option it could be the value of
    // (`--keep-tag --dry-run`, `--profile --help`).
    let exempt = vals.iter().take_while(|v| **v != "--").enumerate().any(|(i, v)| {
        matches!(*v, "--help" | "-help" | "--dry-run" | "--dryrun" | "--what-if")
            && (i == 0 || !vals[i - 1].starts_with('-') || vals[i - 1].contains('='))
    });
    if exempt || vals.first().is_some_and(|v| *v == "help") {
        return None;
    }
    let mut positional = 0;
    let mut after_option = false;
    for v in &vals {
        if let Some(long) = v
            .strip_prefix("--")
            .or_else(|| v.strip_prefix('-').filter(|l| l.len() > 2 && l.chars().all(|c| c.is_ascii_alphabetic() || c == '-')))
        {
            // `--purge`, `--delete-destination=true`, Go's `-purge`: the option's first word says it. `--add-drop-table` does not.
            let name = long.split_once('=').map_or(long, |(n, _)| n);
            let value = long.split_once('=').map(|(_, v)| v.to_ascii_lowercase());
            let off = matches!(value.as_deref(), Some("false" | "0" | "no" | "off"));
            // Any word of it (`--security-erase`), unless the option adds, keeps or turns off (`--add-drop-table`, `--no-delete`).
            let parts = verb_parts(name);
            let negated = parts.first().is_some_and(|f| {
                matches!(f.as_str(), "add" | "no" | "skip" | "keep" | "without" | "dont" | "disable" | "prevent" | "ignore")
            });
            if !off && !negated && (parts.iter().any(|p| DESTROY_OPTION_WORDS.contains(&p.as_str())) || name == "accept-data-loss") {
                return Some(v.split('=').next().unwrap_or(v).to_owned());
            }
            after_option = !long.contains('=');
            continue;
        }
        if v.starts_with('-') {
            after_option = v.len() == 2;
            continue;
        }
        // A word right after an option may be its value: it is read, but does not use up the four words.
        if !after_option {
            positional += 1;
        }
        after_option = false;
        if positional > 4 {
            break;
        }
        let file_like = v.rsplit_once('.').is_some_and(|(_, ext)| FILE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()));
        if v.contains(['/', '=', ' ', '\t', '@', '\'', '*']) || file_like || v.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        if verb_parts(v).iter().any(|p| DESTROY_VERBS.contains(&p.as_str())) {
            return Some((*v).to_owned());
        }
    }
    None
}

/// Whether a path names a block device (a disk, a partition, a volume, a
/// flash chip), after `/proc/<pid>/root`, `.`, `..` and doubled slashes are
/// folded. Character devices (`/dev/null`, `/dev/tty`) are not.
pub(super) fn block_device(p: &str) -> Option<String> {
    static BLOCK: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"^/dev/(sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|md\d|md/|dm-\d|mapper/|disk/|mtd\d|mtdblock\d|loop\d|nbd\d|zd\d|rbd\d|bcache\d|sg\d|sr\d|root$|zvol/)",
        )
        .expect("static regex")
    });
    // LVM's `/dev/VG/LV` (any two-level name outside the folders of character devices).
    static TWO_LEVEL: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^/dev/([A-Za-z][\w.+-]*)/[\w.+-]+$").expect("static regex"));
    const CHAR_DIRS: &[&str] = &[
        "pts",
        "shm",
        "fd",
        "net",
        "input",
        "snd",
        "dri",
        "bus",
        "char",
        "cpu",
        "hugepages",
        "mqueue",
        "usb",
        "v4l",
        "serial",
        "gpiochip",
        "vfio",
        "dma_heap",
        "bsg",
        "block",
        "tcp",
        "udp",
        "stdin",
        "stdout",
        "stderr",
        "null",
        "zero",
        "random",
        "urandom",
        "tty",
        "console",
    ];
    let norm = fold_path(p)?;
    let lvm = TWO_LEVEL.captures(&norm).is_some_and(|c| !CHAR_DIRS.contains(&&c[1]));
    (BLOCK.is_match(&norm) || lvm).then_some(norm)
}

/// An absolute path with `/proc/<x>/root` (the same file system seen from
/// a process), `.`, `..` and doubled slashes folded; `None` for a relative
/// path.
pub(super) fn fold_path(p: &str) -> Option<String> {
    if !p.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
        // `/proc/self/root`, `/proc/1/root`, `/proc/thread-self/root`: the root again.
        if parts.len() == 3 && parts[0] == "proc" && parts[2] == "root" {
            parts.clear();
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// Programs that only read a device they are given (listing, checksums,
/// SMART data), so a device operand is no reason to ask.
const READS_DEVICES: &[&str] = &[
    "lsblk",
    "blkid",
    "cat",
    "head",
    "tail",
    "xxd",
    "od",
    "hexdump",
    "growpart",
    "pvresize",
    "resize2fs",
    "udisksctl",
    "partprobe",
    "strings",
    "file",
    "stat",
    "ls",
    "readlink",
    "realpath",
    "smartctl",
    "udevadm",
    "findmnt",
    "df",
    "du",
    "mount",
    "umount",
    "dumpe2fs",
    "blockdev",
    "partprobe",
    "sha256sum",
    "sha1sum",
    "md5sum",
    "cksum",
    "b2sum",
    "cmp",
    "lsof",
    "fuser",
    "iostat",
    "hdparm",
    "eject",
    "test",
    "[",
    "echo",
    "printf",
    "grep",
    "wc",
    "pvs",
    "vgs",
    "lvs",
    "pvdisplay",
    "vgdisplay",
    "lvdisplay",
    "pvscan",
    "vgscan",
    "lvscan",
    "isosize",
    "sginfo",
    "sg_inq",
    "badblocks",
    "wipefs",
    "losetup",
    "dumpe2fs",
    "tune2fs",
    "xfs_info",
    "xfs_db",
    "btrfs",
    "sync",
    "fstrim",
    "swapon",
    "swapoff",
    "kpartx",
    "multipath",
];

/// Packages a system cannot run without.
fn essential_package(p: &str) -> bool {
    let name = p.split([':', '=', '@']).next().unwrap_or(p);
    matches!(
        name,
        "libc6"
            | "libc-bin"
            | "glibc"
            | "glibc-common"
            | "systemd"
            | "systemd-sysv"
            | "coreutils"
            | "bash"
            | "dash"
            | "dpkg"
            | "apt"
            | "rpm"
            | "dnf"
            | "yum"
            | "sudo"
            | "base-files"
            | "util-linux"
            | "login"
            | "passwd"
            | "init"
            | "openssh-server"
    ) || name.starts_with("linux-image")
        || name.starts_with("kernel")
}

impl Classifier<'_> {
    /// Programs of this room; returns whether `name` is one of them (then
    /// nothing else looks at the command).
    pub(super) fn system(&mut self, name: &str, words: &[Word], c: &Cmd) -> bool {
        let args = &words[1..];
        let vals: Vec<&str> = args.iter().filter_map(|w| w.val()).collect();
        match name {
            "kill" => {
                // `kill -9 -1`: every process the caller may signal; `kill 1`: init (`-01`, `' 1'` too: pids are numbers).
                // Signal 0 only tests that the process exists.
                let probe = vals.windows(2).any(|p| matches!(p, ["-s" | "-n", "0"]))
                    || vals.iter().any(|v| matches!(*v, "-0" | "-s0" | "--signal=0"));
                let pid = |t: &str| t.trim().parse::<i64>().ok();
                let mut ended = false;
                let mut targets = Vec::new();
                for v in &vals {
                    if *v == "--" {
                        ended = true;
                    } else if ended || !v.starts_with('-') || pid(v) == Some(-1) {
                        targets.push(*v);
                    }
                }
                if !probe && targets.iter().any(|t| matches!(pid(t), Some(-1 | 1))) {
                    self.hit(Category::Destruction, "stop the system", words, "signals every process (`-1`) or init (`1`)");
                }
            }
            "pkill" | "killall" => {
                let o = opts(args, "sgGPtuUn", &["--signal", "--pgroup", "--group", "--parent", "--terminal", "--euid", "--uid", "--ns"]);
                let pats = o.lits();
                // A pattern that matches every process name, every process of root, the children of init.
                let everything = |p: &str| {
                    regex::Regex::new(p)
                        .is_ok_and(|r| ["systemd", "init", "sshd", "bash", "x", "postgres", "kworker/0:1"].iter().all(|n| r.is_match(n)))
                };
                let root = o.values(&["-u", "--euid", "-U", "--uid", "--user"]).any(|u| matches!(u, "root" | "0"));
                let init_children = o.values(&["-P", "--parent"]).any(|p| p.trim() == "1");
                if pats.iter().any(|p| p.is_empty() || everything(p))
                    || root
                    || init_children
                    || (name == "killall" && o.has(&["-u", "--user"]) && pats.is_empty())
                {
                    self.hit(Category::Destruction, "stop the system", words, "the pattern matches every process");
                }
            }
            "skill" | "snice" if vals.windows(2).any(|p| matches!(p, ["-u", "root" | "0"])) => {
                self.hit(Category::Destruction, "stop the system", words, "signals every process of root")
            }
            "loginctl" if vals.iter().any(|v| matches!(*v, "poweroff" | "reboot" | "halt" | "kexec")) => {
                self.hit(Category::Destruction, "stop the system", words, "stops the machine")
            }
            "kexec" if vals.iter().any(|v| matches!(*v, "-e" | "--exec" | "-f" | "--force")) => {
                self.hit(Category::Destruction, "stop the system", words, "boots another kernel now")
            }
            "openrc-shutdown" => self.hit(Category::Destruction, "stop the system", words, "stops the machine"),
            // The login manager over D-Bus (`PowerOff`, `Reboot`, `Halt`).
            "busctl" | "dbus-send" | "gdbus" | "qdbus"
                if vals.iter().any(|v| ["PowerOff", "Reboot", "Halt", "KExec"].iter().any(|m| v.ends_with(m))) =>
            {
                self.hit(Category::Destruction, "stop the system", words, "asks the login manager to stop the machine")
            }
            "emerge"
                if vals.iter().any(|v| matches!(*v, "--unmerge" | "-C" | "--depclean" | "-c"))
                    && vals.iter().any(|v| essential_package(v.rsplit('/').next().unwrap_or(v))) =>
            {
                self.hit(Category::Destruction, "remove an essential package", words, "removes a package the system cannot run without")
            }
            "xbps-remove" if vals.iter().any(|v| essential_package(v)) => {
                self.hit(Category::Destruction, "remove an essential package", words, "removes a package the system cannot run without")
            }
            "mix" if vals.contains(&"hex.publish") && vals.contains(&"--revert") => {
                self.hit(Category::Infrastructure, "unpublish", words, "reverts a published Hex package")
            }
            "fastboot" if vals.iter().any(|v| matches!(*v, "-w" | "erase") || v.starts_with("format")) => {
                self.hit(Category::Destruction, "device operand", words, "erases or formats a phone's partition")
            }
            "killall5" => self.hit(Category::Destruction, "stop the system", words, "signals every process"),
            // `shutdown -c` cancels a planned one; `-k` only warns.
            "shutdown"
                if vals.iter().any(|v| matches!(*v, "-c" | "-k")) && !vals.iter().any(|v| matches!(*v, "-h" | "-r" | "-P" | "now")) => {}
            "shutdown" | "poweroff" | "reboot" | "halt" => {
                self.hit(Category::Destruction, "stop the system", words, format!("`{name}` stops the machine"))
            }
            "telinit" | "init" if vals.iter().any(|v| matches!(*v, "0" | "6" | "1" | "s" | "S")) => {
                self.hit(Category::Destruction, "stop the system", words, "changes the runlevel: stops the machine or its services")
            }
            "telinit" | "init" => {}
            "systemctl" => {
                let o = opts(args, "tpHMsn", &["--type", "--property", "--host", "--machine", "--signal", "--lines", "--root"]);
                let lits = o.lits();
                let stop_target = lits.iter().skip(1).any(|u| {
                    u.ends_with(".target")
                        && matches!(
                            u.trim_end_matches(".target"),
                            "poweroff" | "reboot" | "halt" | "kexec" | "rescue" | "emergency" | "soft-reboot"
                        )
                });
                let every = lits.iter().skip(1).any(|u| u.contains('*')) || o.unknown.iter().any(|w| w.glob);
                // `systemctl --user set-environment MEND_CONFIG=…`: every later Mend of the session under another config.
                if lits.first().is_some_and(|v| matches!(*v, "set-environment" | "import-environment"))
                    && lits.iter().any(|v| v.starts_with("MEND_") || v.starts_with("XDG_CONFIG_HOME") || v.starts_with("XDG_DATA_HOME"))
                {
                    self.hit(Category::Unknown, "Mend's own gate", words, "sets Mend's config or data folder for every later run");
                }
                if let Some(verb) = lits.first()
                    && (matches!(*verb, "poweroff" | "reboot" | "halt" | "kexec" | "isolate" | "emergency" | "rescue" | "soft-reboot")
                        || (matches!(*verb, "start" | "restart") && stop_target)
                        || (matches!(*verb, "stop" | "kill" | "mask") && every))
                {
                    self.hit(
                        Category::Destruction,
                        "stop the system",
                        words,
                        format!("`systemctl {verb}` stops the machine or every service"),
                    );
                }
            }
            "journalctl" if vals.iter().any(|v| v.starts_with("--vacuum-")) => {
                self.hit(Category::BulkDeletion, "rm glob", words, "`journalctl --vacuum-*` deletes archived journal files")
            }
            "journalctl" => {}
            "apt" | "apt-get" | "aptitude" | "dpkg" | "rpm" | "dnf" | "yum" | "zypper" | "pacman" => {
                // Hooks given on the command line run through `sh -c`.
                let o = opts(args, "oct", &["--option", "--config-file", "--target-release"]);
                for v in o.values(&["-o", "--option"]) {
                    if let Some((key, cmd)) = v.split_once('=')
                        && (key.contains("Invoke") || key.contains("Pre-Install-Pkgs"))
                    {
                        self.nested_checked(cmd);
                    }
                }
                let removes = vals.iter().any(|v| {
                    matches!(
                        *v,
                        "remove"
                            | "purge"
                            | "autoremove"
                            | "erase"
                            | "-r"
                            | "--remove"
                            | "-P"
                            | "--purge"
                            | "-e"
                            | "--erase"
                            | "-R"
                            | "-Rns"
                    ) || (name == "pacman" && v.starts_with("-R"))
                });
                let removes = removes
                    || (name == "rpm" && vals.iter().any(|v| v.starts_with("-e") && !v.starts_with("--")))
                    || (matches!(name, "dnf" | "yum" | "zypper") && vals.contains(&"rm"))
                    || (matches!(name, "apt" | "apt-get" | "aptitude")
                        && vals.iter().any(|v| v.len() > 1 && v.ends_with('-') && !v.starts_with('-')));
                // dpkg's force lists are comma-separated (`--force-remove-essential,depends`).
                let forced_list = vals.iter().any(|v| {
                    v.starts_with("--force-")
                        && v["--force-".len()..].split(',').any(|f| matches!(f, "all" | "remove-essential" | "depends"))
                });
                let forced = forced_list
                    || vals.iter().any(|v| {
                        matches!(
                            *v,
                            "--allow-remove-essential"
                                | "--force-all"
                                | "--force-remove-essential"
                                | "--nodeps"
                                | "--force-depends"
                                | "-dd"
                        )
                    });
                if removes && (forced || vals.iter().any(|v| essential_package(v.trim_end_matches('-')))) {
                    self.hit(
                        Category::Destruction,
                        "remove an essential package",
                        words,
                        "removes a package the system cannot run without",
                    );
                }
            }
            "npm" | "pnpm" | "yarn" | "bun" => {
                if vals.iter().take_while(|v| **v != "--").any(|v| *v == "unpublish")
                    && !vals.iter().any(|v| matches!(*v, "--dry-run" | "--help"))
                {
                    self.hit(Category::Infrastructure, "unpublish", words, "withdraws a published package from the registry");
                }
            }
            "cargo" => {
                // `cargo run -p mend-cli -- approvals decide …`: Mend itself, built here.
                if let Some(at) = vals.iter().position(|v| *v == "--")
                    && vals[..at].contains(&"run")
                    && (vals[..at].iter().any(|v| v.contains("mend"))
                        || vals
                            .get(at + 1)
                            .is_some_and(|s| matches!(*s, "approvals" | "mcp" | "run" | "daemon" | "demo" | "runs" | "hook")))
                {
                    let mut inner = vec![Word::literal("mend")];
                    inner.extend(vals[at + 1..].iter().map(|v| Word::literal(v)));
                    self.mend(&inner);
                }
                if vals.iter().take_while(|v| **v != "--").any(|v| *v == "yank") && !vals.contains(&"--undo") && !vals.contains(&"--help") {
                    self.hit(Category::Infrastructure, "unpublish", words, "yanks a published crate version");
                }
                // `--config 'target.X.runner="CMD"'`: cargo runs the runner, a wrapper or a linker.
                for (i, v) in vals.iter().enumerate() {
                    let cfg = match v.strip_prefix("--config=") {
                        Some(x) => Some(x),
                        None if *v == "--config" => vals.get(i + 1).copied(),
                        None => None,
                    };
                    if let Some((key, val)) = cfg.and_then(|c| c.split_once('='))
                        && ["runner", "linker", "rustc-wrapper", "rustc", "rustdoc"].iter().any(|k| key.trim().ends_with(k))
                    {
                        self.nested_checked(val.trim().trim_matches(['"', '\'']));
                    }
                }
            }
            "gem" if vals.contains(&"yank") && !vals.contains(&"--help") => {
                self.hit(Category::Infrastructure, "unpublish", words, "yanks a published gem version")
            }
            "gem" => {}
            "dotnet" if vals.starts_with(&["nuget", "delete"]) => {
                self.hit(Category::Infrastructure, "unpublish", words, "deletes a published package version")
            }
            "skopeo" | "crane" | "regctl" | "oras" => {
                if vals.iter().filter(|v| !v.starts_with('-')).take(3).any(|v| matches!(*v, "delete" | "rm")) {
                    self.hit(Category::Infrastructure, "unpublish", words, "deletes an image from its registry");
                }
            }
            // Netcat's and socat's command execution: `nc -c CMD`, `nc -e PROG`, `ncat --sh-exec CMD`, `socat … EXEC:CMD`.
            "nc" | "ncat" | "netcat" | "nc.traditional" | "nc.openbsd" => {
                let o = opts(args, "ceiIOpqswWxXTbmPK", &["--sh-exec", "--exec", "--lua-exec", "--source", "--wait", "--proxy"]);
                for cmd in o.values(&["-c", "-e", "--sh-exec", "--exec"]) {
                    self.nested_checked(cmd);
                }
                if o.has(&["--lua-exec"]) {
                    self.hit(Category::Unknown, "inline code", words, "`--lua-exec` runs a Lua script the gate cannot read");
                }
            }
            "socat" => {
                for v in &vals {
                    for addr in v.split("!!") {
                        let upper = addr.to_ascii_uppercase();
                        if let Some(cmd) = ["EXEC:", "SYSTEM:"].iter().find_map(|p| upper.starts_with(p).then(|| &addr[p.len()..])) {
                            let cmd = cmd.split(',').next().unwrap_or(cmd);
                            self.nested_checked(cmd);
                        }
                    }
                }
                self.device_operands(name, words);
            }
            // `zip -TT CMD` / `--unzip-command CMD`: the test command runs through a shell.
            "zip" => {
                let o = opts(args, "bnOtxi", &["--unzip-command", "--temp-path", "--suffixes", "--output-file"]);
                if let Some(at) = vals.iter().position(|v| *v == "-TT")
                    && let Some(cmd) = vals.get(at + 1)
                {
                    self.nested_checked(cmd);
                }
                for cmd in o.values(&["--unzip-command"]) {
                    self.nested_checked(cmd);
                }
            }
            // `scp|sftp -o ProxyCommand=CMD`, `-S PROGRAM`: ssh runs them.
            "scp" | "sftp" => {
                let o = opts(args, "oSFiPlcDJB", &[]);
                for v in o.values(&["-o"]) {
                    let (key, val) = v.split_once(['=', ' ']).unwrap_or((v, ""));
                    if matches!(key.to_ascii_lowercase().as_str(), "proxycommand" | "localcommand" | "knownhostscommand") {
                        self.nested_checked(val.trim());
                    }
                }
                if let Some(p) = o.value(&["-S"]) {
                    self.argv(&[Word::literal(p)], c);
                }
            }
            "dcfldd" => self.dd(words),
            // `ddrescue IN OUT [MAP]`: the second operand is written.
            "ddrescue" | "gddrescue" => {
                let o = opts(args, "bcdeiIKmoOsTuxZ", &[]);
                if let Some(dev) = o.lits().get(1).and_then(|p| block_device(p).or_else(|| self.device(p))) {
                    self.hit(Category::Destruction, "dd to a device", words, format!("`{name}` writes over the device {dev}"));
                }
            }
            // `pv -o DEV`: only its output is written; what it reads is not.
            "pv" => {
                let o = opts(args, "LBsNiDdAwHRo", &["--output", "--rate-limit", "--buffer-size", "--size", "--name"]);
                if let Some(dev) = o.values(&["-o", "--output"]).find_map(|p| block_device(p).or_else(|| self.device(p))) {
                    self.hit(Category::Destruction, "write to a device", words, format!("`pv` writes over the device {dev}"));
                }
            }
            "lvreduce" | "lvresize"
                if name == "lvreduce" || vals.iter().any(|v| v.starts_with("-L-") || v.starts_with("--size=-") || v.starts_with("-l-")) =>
            {
                self.hit(Category::Destruction, "volume removal", words, "shrinks a volume under its file system")
            }
            "zfs" if vals.first() == Some(&"rollback") && vals.iter().any(|v| v.starts_with('-') && v.contains(['r', 'R'])) => {
                self.hit(Category::Destruction, "volume removal", words, "`zfs rollback -r` destroys the later snapshots")
            }
            "flashrom" if vals.iter().any(|v| matches!(*v, "-w" | "--write" | "-E" | "--erase")) => {
                self.hit(Category::Destruction, "blkdiscard", words, "overwrites or erases a firmware chip")
            }
            "debugfs" if vals.contains(&"-w") => {
                self.hit(Category::Destruction, "device operand", words, "`debugfs -w` edits a file system on its device directly")
            }
            "debugfs" => {}
            "openssl" => self.device_operands(name, words),
            // Remote commands: `gcloud compute ssh --command`, `az vm run-command --scripts`, `ansible -m shell -a`.
            "ansible" | "ansible-console" => {
                let o = opts(args, "maiuMfeCt", &["--module-name", "--args", "--inventory", "--user", "--forks", "--extra-vars"]);
                let module = o.value(&["-m", "--module-name"]).unwrap_or("command");
                for a in o.values(&["-a", "--args"]) {
                    match module.rsplit('.').next().unwrap_or(module) {
                        "shell" | "command" | "raw" => self.nested_checked(a),
                        _ if a.contains("state=absent") || a.contains("delete=yes") || a.contains("delete=true") => self.hit(
                            Category::BulkDeletion,
                            "rm -r",
                            words,
                            "a module with `state=absent` (or `delete=yes`) deletes what it names on every host",
                        ),
                        _ => {}
                    }
                }
            }
            // Vault: a disabled secrets engine loses every secret under it.
            "vault" if vals.windows(2).any(|p| matches!(p, ["secrets", "disable"] | ["auth", "disable"])) => {
                self.hit(Category::Infrastructure, "destructive subcommand", words, "disabling a Vault mount destroys what it holds")
            }
            // gRPC and remote-procedure clients: the method's name says what it does (`users.v1.Users/DeleteUser`).
            "grpcurl" | "grpc_cli" | "evans" => {
                let method = vals.iter().rev().find(|v| !v.starts_with('-')).copied().unwrap_or("");
                let last = method.rsplit(['/', '.']).next().unwrap_or("");
                if verb_parts(last).iter().any(|p| DESTROY_VERBS.contains(&p.as_str())) {
                    self.hit(Category::Infrastructure, "destructive subcommand", words, format!("calls the remote method `{method}`"));
                }
            }
            // smbclient / lftp command strings: a tree deleted on the server.
            "smbclient" | "lftp" => {
                let o = opts(args, "cUWIpmAOsnRSLDT", &["--command"]);
                for cmds in o.values(&["-c", "--command"]) {
                    for cmd in cmds.split([';', '\n']) {
                        let mut w = cmd.split_whitespace();
                        match w.next() {
                            Some("deltree" | "rmtree") => {
                                self.hit(Category::BulkDeletion, "rm -r", words, format!("`{cmd}` deletes a remote tree"))
                            }
                            Some("rm" | "del" | "mrm") if cmd.contains(['*', '?']) || cmd.contains(" -r") => {
                                self.hit(Category::BulkDeletion, "rm glob", words, format!("`{cmd}` deletes remote files in bulk"))
                            }
                            Some("mirror") if cmd.contains("--delete") => self.hit(
                                Category::BulkDeletion,
                                "rsync --delete",
                                words,
                                "deletes what the source lacks at the destination",
                            ),
                            _ => {}
                        }
                    }
                }
            }
            // btrfs and xfs_db commands that write the file system or the device.
            "btrfs"
                if vals.iter().any(|v| matches!(*v, "--repair" | "zero-log" | "super-recover" | "chunk-recover" | "replace"))
                    || (vals.contains(&"device") && vals.iter().any(|v| matches!(*v, "add" | "remove" | "delete"))) =>
            {
                self.hit(Category::Destruction, "device operand", words, "rewrites a btrfs file system or the devices under it")
            }
            "xfs_db" if vals.contains(&"-x") => {
                self.hit(Category::Destruction, "device operand", words, "`xfs_db -x` writes the file system directly")
            }
            "ubirmvol" | "ubiformat" | "ubidetach" => {
                self.hit(Category::Destruction, "volume removal", words, "removes or formats a flash volume")
            }
            // Configuration management: a resource made absent is deleted on every host.
            "puppet" | "salt" | "salt-call" | "salt-ssh" if vals.iter().any(|v| v.contains("absent") || v.contains("file.remove")) => self
                .hit(
                    Category::Infrastructure,
                    "destructive subcommand",
                    words,
                    "makes a resource absent (deletes it) on every host it reaches",
                ),
            // `conda run -n ENV CMD…` (mamba, micromamba, pixi): CMD runs.
            "conda" | "mamba" | "micromamba" | "pixi" if vals.first() == Some(&"run") => {
                let c2 = c.clone();
                self.after_positional_opts(
                    &args[1..],
                    &c2,
                    "npe",
                    &["--name", "--prefix", "--cwd", "--environment", "--manifest-path"],
                    0,
                    false,
                );
            }
            "mend" => self.mend(words),
            _ => return false,
        }
        true
    }

    /// `mend` run by a call: answering a request, turning a server back on
    /// or running under another config would let a call decide what only
    /// a person may (the promise "whoever proposed it").
    fn mend(&mut self, words: &[Word]) {
        let vals: Vec<&str> = words[1..].iter().filter_map(|w| w.val()).collect();
        // Options that take a value (global and per command): their values are not subcommands.
        const VALUED: &[&str] = &[
            "--data-dir",
            "--config",
            "--memory",
            "--llm-base-url",
            "--llm-model",
            "--llm-provider",
            "--llm-key-env",
            "--llm-timeout",
            "--approve",
            "--agent",
            "--format",
            "--since",
            "--until",
            "--kind",
            "--level",
            "--job",
            "--note",
            "--remember",
            "--who",
            "--limit",
            "--server",
        ];
        let mut cmd: Vec<&str> = Vec::new();
        let mut skip = false;
        for v in &vals {
            if skip {
                skip = false;
            } else if v.starts_with('-') {
                skip = VALUED.contains(v);
            } else {
                cmd.push(v);
            }
        }
        let approve = vals
            .iter()
            .enumerate()
            .find_map(|(i, v)| v.strip_prefix("--approve=").or_else(|| if *v == "--approve" { vals.get(i + 1).copied() } else { None }));
        let other_config = vals.iter().any(|v| v.starts_with("--config") || v.starts_with("--data-dir") || v.starts_with("--memory"))
            || ["MEND_CONFIG", "MEND_DATA_DIR", "MEND_MEMORY", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "HOME"].iter().any(|n| self.env_has(n));
        let unknown_word = words[1..].iter().any(|w| w.val().is_none());
        let reads_only = matches!(
            cmd.as_slice(),
            ["logs" | "metrics" | "codes" | "safety" | "tools" | "check" | "help", ..]
                | ["runs"]
                | ["memory", "search" | "list" | "show" | "check", ..]
                | ["mcp", "tools" | "status" | "doctor", ..]
                | ["approvals", "list" | "show" | "pending", ..]
                | ["approvals"]
        );
        let why = match cmd.as_slice() {
            _ if self.appends || (unknown_word && !reads_only) => Some("runs Mend with arguments only known at run time"),
            ["approvals", "decide", ..] => Some("answers a request that waits for a person"),
            ["mcp", "enable", ..] => Some("turns a server a person disabled back on"),
            ["run" | "daemon" | "demo", ..] if approve.is_some_and(|a| !matches!(a, "wait" | "abort")) => {
                Some("runs a job whose requests are answered without a person (`--approve`)")
            }
            _ if approve.is_some_and(|a| !matches!(a, "wait" | "abort")) && !reads_only => {
                Some("goes on with runs whose requests are answered without a person (`--approve`)")
            }
            _ if other_config && !reads_only => Some("runs Mend under another config or data folder, with another gate"),
            _ => None,
        };
        if let Some(why) = why {
            self.hit(Category::Unknown, "Mend's own gate", words, why);
        }
    }

    /// Whether the call or an earlier assignment of this script sets a
    /// variable.
    fn env_has(&self, name: &str) -> bool {
        self.assigned.contains(name) || (self.env)(name).is_some()
    }

    /// A block device given to a program not known to only read it.
    pub(super) fn device_operands(&mut self, name: &str, words: &[Word]) {
        let vals: Vec<&str> = words[1..].iter().filter_map(|w| w.val()).collect();
        let verb = vals.iter().find(|v| !v.starts_with('-')).copied().unwrap_or("");
        let reads = READS_DEVICES.contains(&name)
            || match name {
                "nvme" => matches!(
                    verb,
                    "list"
                        | "list-subsys"
                        | "list-ns"
                        | "id-ctrl"
                        | "id-ns"
                        | "smart-log"
                        | "error-log"
                        | "fw-log"
                        | "get-log"
                        | "get-feature"
                        | "show-regs"
                ),
                "cryptsetup" => vals.iter().any(|v| {
                    matches!(
                        *v,
                        "luksDump" | "status" | "isLuks" | "open" | "luksOpen" | "close" | "luksClose" | "luksUUID" | "luksHeaderBackup"
                    )
                }),
                // Checks that change nothing (`-n`), and benchmarks told to only read.
                "e2fsck" | "fsck" | "fsck.ext4" | "fsck.ext3" | "fsck.ext2" | "xfs_repair" => {
                    vals.iter().any(|v| matches!(*v, "-n" | "--no-modify"))
                }
                "fio" => vals.contains(&"--readonly"),
                "mdadm" => vals
                    .iter()
                    .any(|v| matches!(*v, "--detail" | "-D" | "--examine" | "-E" | "--query" | "-Q" | "--assemble" | "-A" | "--monitor")),
                "zpool" | "zfs" => matches!(verb, "status" | "list" | "iostat" | "get" | "import" | "history" | "events"),
                _ => false,
            };
        if reads {
            return;
        }
        // Copiers from a device into a file: only what they write counts (`qemu-img convert SRC DST`, `e2image SRC DST`,
        // `partclone.* -s SRC -o DST`, `fsarchiver savefs ARCHIVE DEV…` reads the devices, `restfs … dest=DEV` writes).
        let output: Option<Vec<&str>> = match name {
            "qemu-img" if verb == "convert" => Some(vals.iter().rfind(|v| !v.starts_with('-')).copied().into_iter().collect()),
            "e2image" => Some(vals.iter().rfind(|v| !v.starts_with('-')).copied().into_iter().collect()),
            n if n.starts_with("partclone") => Some(vals.windows(2).filter(|p| matches!(p[0], "-o" | "--output")).map(|p| p[1]).collect()),
            "fsarchiver" if verb == "savefs" || verb == "archinfo" => Some(Vec::new()),
            "fsarchiver" => Some(vals.iter().filter_map(|v| v.split(',').find_map(|kv| kv.strip_prefix("dest="))).collect()),
            _ => None,
        };
        if let Some(out) = output {
            if let Some(dev) = out.iter().find_map(|p| block_device(p)) {
                self.hit(Category::Destruction, "device operand", words, format!("`{name}` writes over the block device {dev}"));
            }
            return;
        }
        for w in &words[1..] {
            let Some(v) = w.val() else { continue };
            for piece in v.split(|ch: char| ch == '=' || ch == ',' || ch.is_whitespace()).flat_map(|p| p.split(':')) {
                let dev = block_device(piece).or_else(|| self.device(piece).filter(|d| block_device(d).is_some()));
                if let Some(dev) = dev {
                    self.hit(Category::Destruction, "device operand", words, format!("`{name}` is given the block device {dev}"));
                    return;
                }
            }
        }
    }
}

impl Classifier<'_> {
    /// `cd DIR` / `pushd DIR`: later relative paths of the script resolve
    /// there (`cd /dev && dd of=sda` writes /dev/sda).
    pub(super) fn follow_cd(&mut self, words: &[Word], top: bool) {
        let Some(prog) = words.first().and_then(|w| w.val()) else { return };
        if !matches!(prog, "cd" | "pushd" | "chdir") {
            return;
        }
        let Some(target) = words[1..].iter().filter_map(|w| w.val()).find(|v| !v.starts_with('-') || *v == "-") else { return };
        if target == "-" || unknown_value(target) {
            return;
        }
        // `cd ~/x`: kept as written (what the home folder is is not known here; Mend's own folders are recognised by name).
        let dir = if target.starts_with('~') || target.starts_with('/') {
            PathBuf::from(target)
        } else {
            match &self.cwd {
                Some(cwd) => cwd.join(target),
                None => return,
            }
        };
        if top {
            self.cwd = Some(dir);
        } else {
            // A `cd` that may not run, or runs in a subshell: the script may be here, or still where it was.
            self.maybe_cwd.push(dir);
        }
    }

    /// A program that starts a shell when given no command (`sudo -s`,
    /// `sudo -i`, `su`, `chroot DIR`, `nsenter …`, `newgrp GROUP`): that
    /// shell reads standard input as its script. Returns whether the
    /// command is one of those.
    pub(super) fn shell_on_stdin(&mut self, name: &str, args: &[Word], c: &Cmd) -> bool {
        let (o, max_operands) = match name {
            "sudo" => {
                let o = opts(args, SUDO_SHORT_VALUES, SUDO_LONG_VALUES);
                if !o.has(&["-s", "-i", "--shell", "--login"]) {
                    return false;
                }
                (o, 0)
            }
            "su" | "runuser" => {
                let o = opts(args, "ugsgGw", &["--user", "--group", "--shell", "--supp-group", "--whitelist-environment"]);
                if o.has(&["-c", "--command", "--session-command"]) {
                    return false;
                }
                (o, 1)
            }
            "chroot" => (opts(args, "", &["--userspec", "--groups"]), 1),
            "doas" => {
                let o = opts(args, "uC", &[]);
                if !o.has(&["-s"]) {
                    return false;
                }
                (o, 0)
            }
            "sg" | "unshare" | "script" => (opts(args, "", &[]), 1),
            "machinectl" => (opts(args, "", &[]), 2),
            "systemd-run" if args.iter().any(|w| matches!(w.val(), Some("--shell" | "-S"))) => (opts(args, "", &[]), 0),
            "nsenter" => (opts(args, "tSGw", &["--target", "--setuid", "--setgid", "--wd"]), 0),
            "newgrp" => (opts(args, "", &[]), 1),
            _ => return false,
        };
        // `su - USER`: the `-` is a login shell, not a command.
        let operands = o.operands.iter().filter(|w| w.val() != Some("-")).count();
        if operands > max_operands || !o.unknown.is_empty() || matches!(c.stdin, Stdin::Inherited) {
            return false;
        }
        self.stdin_script(c, name);
        true
    }
}

/// Whether a command rewrites every file it is given to nothing: `sed -i`
/// with only `d`, `cp /dev/null FILE`, `perl -i -pe 's/.*//s'`.
pub(super) fn empties_files(name: &str, args: &[Word]) -> bool {
    let vals: Vec<&str> = args.iter().filter_map(|w| w.val()).collect();
    match name {
        "sed" => {
            let in_place = vals.iter().any(|v| {
                v.starts_with("-i") || v.starts_with("--in-place") || (v.starts_with('-') && !v.starts_with("--") && v.contains('i'))
            });
            let scripts: Vec<&str> = vals.iter().filter(|v| !v.starts_with('-')).copied().collect();
            in_place
                && scripts
                    .first()
                    .is_some_and(|s| matches!(s.trim(), "d" | "1,$d" | "$d" | "/.*/d" | "/^/d" | "s/.*//" | "s/.*//g" | "s/^.*$//"))
        }
        "cp" | "mv" => {
            vals.iter().find(|v| !v.starts_with('-')).is_some_and(|v| *v == "/dev/null")
                || (name == "mv" && vals.last() == Some(&"/dev/null"))
        }
        "perl" => {
            vals.iter().any(|v| v.starts_with("-i") || (v.starts_with('-') && v.contains('i') && v.contains('e')))
                && vals.iter().any(|v| matches!(*v, "s/.*//s" | "s/.*//" | "$_=\"\"" | "undef $_"))
        }
        _ => false,
    }
}

/// Whether a path is one of Mend's own files: its config, its journal, its
/// record of disabled servers. A call that writes one could loosen the gate
/// for every later run (`allow = [".*"]`).
pub(super) fn mend_own_file(p: &str) -> bool {
    static OWN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"(^|/)(\.config/mend/|mend/config\.toml$|\.local/share/mend/)|(^|/)(mcp-disabled\.json|journal\.sqlite3(-wal|-shm)?)$",
        )
        .expect("static regex")
    });
    OWN.is_match(p)
}

impl Classifier<'_> {
    /// What a program without a rule of its own is told to do: a
    /// destructive subcommand ([`destructive_verb`]) or a block device
    /// operand ([`Classifier::device_operands`]).
    pub(super) fn catch_all(&mut self, name: &str, words: &[Word]) {
        // Tools whose remove/prune/reset act on local dependencies, caches, toolchains or test selections.
        const LOCAL_TOOLS: &[&str] = &[
            "conda",
            "mamba",
            "micromamba",
            "uv",
            "poetry",
            "pdm",
            "pipx",
            "opam",
            "apk",
            "snap",
            "flatpak",
            "rustup",
            "flutter",
            "dart",
            "dotnet",
            "composer",
            "ansible-galaxy",
            "mvn",
            "gradle",
            "swift",
            "nx",
            "turbo",
            "ollama",
            "huggingface-cli",
            "xcrun",
            "pytest",
            "py.test",
            "phpunit",
            "ctest",
            "vitest",
            "jest",
            "mocha",
            "bats",
            "sd",
            "tput",
            "asdf",
            "mise",
            "nvm",
            "pyenv",
            "rbenv",
            "volta",
            "bundle",
            "cabal",
            "stack",
            "pub",
            "vcpkg",
            "conan",
            "sdk",
            "fnm",
            "n",
            "corepack",
            "pre-commit",
            "tox",
            "nox",
            "hatch",
            "rye",
            "direnv",
            "zoxide",
            "tmux",
            "screen",
            "code",
            "pyright",
            "mypy",
            "ruff",
            "eslint",
            "prettier",
            "black",
        ];
        if LOCAL_TOOLS.contains(&name) {
            return self.device_operands(name, words);
        }
        // A program named for what it does (`cloud-nuke`, `aws-nuke`, `lxc-destroy`).
        if verb_parts(name).iter().any(|p| matches!(p.as_str(), "nuke" | "destroy" | "wipe" | "obliterate")) {
            self.hit(Category::Infrastructure, "destructive subcommand", words, format!("`{name}` destroys what it is pointed at"));
            return;
        }
        if let Some(verb) = destructive_verb(&words[1..]) {
            self.hit(
                Category::Infrastructure,
                "destructive subcommand",
                words,
                format!("`{name}` is not known to the gate and its `{verb}` deletes, destroys or resets something"),
            );
            return;
        }
        self.device_operands(name, words);
    }
}

impl Classifier<'_> {
    /// SQL and commands sent through a cloud CLI: `--sql`, `--statement`,
    /// `--query-string`, `--querytext` are read as SQL (`aws rds-data
    /// execute-statement --sql 'DROP TABLE t'`); `aws ssm send-command
    /// --parameters 'commands=[…]'` runs each command on the instances.
    pub(super) fn cloud_sql(&mut self, words: &[Word]) {
        let vals: Vec<&str> = words[1..].iter().filter_map(|w| w.val()).collect();
        for (i, v) in vals.iter().enumerate() {
            let (key, val) = match v.split_once('=') {
                Some((k, x)) if k.starts_with("--") => (k, Some(x)),
                _ => (*v, vals.get(i + 1).copied()),
            };
            let Some(val) = val else { continue };
            match key {
                "--sql" | "--statement" | "--query-string" | "--querytext" => self.sql_text(val, words),
                "--parameters" if val.contains("commands=") => {
                    let list = val.split_once("commands=").map_or("", |(_, r)| r);
                    let list = list.trim_start_matches('[').split(']').next().unwrap_or("");
                    for cmd in list.split(',').map(|c| c.trim().trim_matches(['"', '\''])) {
                        if !cmd.is_empty() {
                            self.nested_checked(cmd);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Readers: a Mend file or a kernel control file among their arguments is
/// only read.
const READERS: &[&str] = &[
    "cat",
    "less",
    "more",
    "head",
    "tail",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "ls",
    "stat",
    "wc",
    "diff",
    "cmp",
    "file",
    "jq",
    "yq",
    "bat",
    "sha256sum",
    "md5sum",
    "sha1sum",
    "test",
    "[",
    "echo",
    "printf",
    "realpath",
    "readlink",
    "du",
    "view",
    "vimdiff",
    "code",
    "open",
    "xdg-open",
    "tree",
];

/// Whether the command only prints help: `--help` among the leading
/// options of these programs, and for the cloud and cluster CLIs also
/// `-help`, `-h` or a trailing `help` anywhere before `--` (`kubectl
/// delete --help`, `terraform destroy -help`, `aws ec2
/// terminate-instances help`). Shells, interpreters and programs that
/// hand their arguments to another command are not here: `sh -c 'rm -rf
/// d' --help` runs the script.
pub(super) fn help_only(name: &str, args: &[Word]) -> bool {
    if matches!(name, "kubectl" | "oc" | "helm" | "terraform" | "tofu" | "aws" | "gcloud" | "az" | "pulumi" | "doctl" | "hcloud")
        && args
            .iter()
            .map_while(|w| w.val())
            .take_while(|v| *v != "--")
            .enumerate()
            .any(|(i, v)| matches!(v, "--help" | "-help" | "-h") || (v == "help" && i + 1 == args.len()))
    {
        return true;
    }
    const PRINT_HELP: &[&str] = &[
        "rm",
        "rmdir",
        "shred",
        "dd",
        "wipefs",
        "sgdisk",
        "sfdisk",
        "parted",
        "fdisk",
        "chmod",
        "chown",
        "truncate",
        "shutdown",
        "reboot",
        "poweroff",
        "halt",
        "systemctl",
        "kill",
        "pkill",
        "killall",
        "npm",
        "pnpm",
        "yarn",
        "cargo",
        "gem",
        "terraform",
        "tofu",
        "pulumi",
        "helm",
        "kubectl",
        "aws",
        "gcloud",
        "az",
        "rsync",
        "restic",
        "borg",
        "dropdb",
        "mkfs",
        "mke2fs",
        "blkdiscard",
        "crontab",
        "userdel",
        "loginctl",
    ];
    // Only among the leading options: after `--` or an operand (`rm -rf -- d --help`, POSIXLY_CORRECT) it is an operand.
    (PRINT_HELP.contains(&name) || name.starts_with("mkfs."))
        && args.iter().map_while(|w| w.val()).take_while(|v| v.starts_with('-') && *v != "--").any(|v| v == "--help")
}

impl Classifier<'_> {
    /// Files no call may change unasked, whatever program it uses: Mend's
    /// own (its config, data folder, journal — "whoever proposed it") and
    /// the kernel's controls that stop the machine (`/proc/sysrq-trigger`,
    /// `/sys/block/*/device/delete`). `cp`, `install`, `rsync` and `ln`
    /// only write their last operand.
    pub(super) fn protected_paths(&mut self, name: &str, words: &[Word]) {
        if READERS.contains(&name) || name == "mend" || words.len() < 2 {
            return;
        }
        let args = &words[1..];
        let dest_only = matches!(name, "cp" | "install" | "rsync" | "ln" | "scp");
        let considered: Vec<&Word> = if dest_only {
            args.iter().rfind(|w| w.val().is_none_or(|v| !v.starts_with('-'))).into_iter().collect()
        } else {
            args.iter().collect()
        };
        for w in considered {
            // The word as written too: `$HOME/.config/mend/…` has no literal value.
            let text = w.val().map(str::to_owned).unwrap_or_else(|| w.raw.clone());
            for piece in text.split(['=', ' ']) {
                let path = self
                    .cwd
                    .as_ref()
                    .filter(|_| !piece.starts_with(['/', '~', '$']))
                    .map_or(piece.to_owned(), |c| format!("{}/{piece}", c.display()));
                if mend_own_file(&path) || mend_own_dir(&path) {
                    self.hit(Category::Unknown, "Mend's own gate", words, format!("`{name}` changes Mend's own file {piece}"));
                    return;
                }
                let k = fold_path(&path).unwrap_or(path.clone());
                if k == "/proc/sysrq-trigger" || (k.starts_with("/sys/") && (k.ends_with("/delete") || k.ends_with("/remove"))) {
                    self.hit(Category::Destruction, "stop the system", words, format!("`{name}` writes the kernel control {k}"));
                    return;
                }
            }
        }
    }
}

/// Mend's folders themselves, or the folders that hold them (`mv
/// ~/.config ~/.config.old` takes Mend's config with it).
fn mend_own_dir(p: &str) -> bool {
    static DIR: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(^|/)(\.config|\.local/share)/mend/?$|^(~|\$HOME|\$\{HOME\})/(\.config|\.local|\.local/share)/?$")
            .expect("static regex")
    });
    DIR.is_match(p)
}

/// The folder a wrapper runs its command in (`env -C DIR`, `env
/// --chdir=DIR`, `sudo -D DIR`, `nsenter --wd=DIR`, `systemd-run
/// --working-directory=DIR`), if it names one.
pub(super) fn wrapper_chdir(words: &[Word]) -> Option<String> {
    let name = normalise_program(words.first()?.val()?);
    let (short, long): (Option<char>, &[&str]) = match name.as_str() {
        "env" => (Some('C'), &["--chdir"]),
        "sudo" | "doas" => (Some('D'), &["--chdir"]),
        "nsenter" => (Some('w'), &["--wd", "--wdns"]),
        "unshare" => (Some('w'), &["--wd"]),
        "systemd-run" => (None, &["--working-directory"]),
        "bwrap" => (None, &["--chdir"]),
        "start-stop-daemon" => (Some('d'), &["--chdir"]),
        _ => return None,
    };
    let vals: Vec<&str> = words[1..].iter().filter_map(|w| w.val()).take_while(|v| *v != "--").collect();
    let mut found = None;
    for (i, v) in vals.iter().enumerate() {
        // systemd-run's `-p WorkingDirectory=DIR`, `--property=WorkingDirectory=DIR`.
        if let Some((_, d)) = v.split_once("WorkingDirectory=") {
            found = Some(d.to_owned());
        } else if let Some((k, d)) = v.split_once('=')
            && long.contains(&k)
        {
            found = Some(d.to_owned());
        } else if long.contains(v) {
            found = vals.get(i + 1).map(|d| (*d).to_owned());
        } else if let Some(letter) = short
            && v.starts_with('-')
            && !v.starts_with("--")
            && let Some(at) = v[1..].find(letter)
        {
            // A cluster (`-iC/dev`, `-w/dev`, `-iC /dev`): the letter takes the rest, or the next word.
            let rest = &v[1 + at + 1..];
            found = if rest.is_empty() { vals.get(i + 1).map(|d| (*d).to_owned()) } else { Some(rest.to_owned()) };
        }
    }
    found
}
