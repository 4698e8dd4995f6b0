//! `mend hook claude`: Claude Code's hooks handled by Mend (issue 17, item
//! 5). Claude Code runs the command once per event with the event's JSON
//! on stdin and reads the answer on stdout; the judging, journaling and
//! diagnosis are `mend_agent::hook`'s. `--install` prints (or, with
//! `--write`, merges into a settings file) the hooks to add to Claude Code's
//! `settings.json`.
//!
//! Exit codes follow Claude Code's hook contract, not `mend`'s: 0 with the
//! answer on stdout (nothing printed: no opinion), 1 for bad input or a
//! failure (Claude Code reports it and goes on with its own permission
//! flow). Never 2: Claude Code reads 2 as "block this call". A call Mend
//! cannot judge because its journal failed is answered "ask" rather than
//! let through silently.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use mend_agent::Agent;
use mend_agent::hook::{self, HookEvent, HookInput, Verdict};
use mend_core::config::Config;
use serde_json::{Value, json};

use crate::EXIT_OK;
use crate::print::errln;
use crate::run::Home;

/// Exit code of a hook that could not do its work (bad input, a broken
/// journal): a non-blocking error for Claude Code, never 2 ("block").
pub const EXIT_HOOK_ERROR: u8 = 1;

/// The tools whose calls `PreToolUse` sends to Mend: Claude Code's own,
/// which never go through MCP.
pub const PRE_TOOL_USE_MATCHER: &str = "Bash|Edit|Write|MultiEdit|NotebookEdit";

/// The seconds Claude Code gives the hook command (its `timeout`); the
/// default `--wait` stays under it.
pub const HOOK_TIMEOUT_S: u64 = 60;

/// `mend hook` subcommands.
#[derive(Subcommand)]
pub enum HookCmd {
    /// Claude Code's hooks: judge its Bash, Edit, Write, MultiEdit and
    /// NotebookEdit calls with Mend's safety gate and remembered decisions
    /// (PreToolUse, PermissionRequest), and give Claude Mend's diagnosis
    /// and lessons after a failure (PostToolUseFailure). Reads one event's
    /// JSON on stdin; `--install` sets it up.
    Claude(ClaudeArgs),
}

/// `mend hook claude` options.
#[derive(Args)]
pub struct ClaudeArgs {
    /// Print the hooks for Claude Code's settings.json (~/.claude/settings.json) instead of handling an event.
    #[arg(long)]
    install: bool,
    /// With --install: merge the hooks into this settings file (created if missing; what it holds is kept).
    #[arg(long, value_name = "FILE", requires = "install")]
    write: Option<PathBuf>,
    /// How long a call the gate holds waits for a decision (the desktop app, `mend approvals decide`)
    /// before Claude Code is told to ask its user; under Claude Code's 60 s hook timeout.
    #[arg(long, default_value = "50s", value_name = "DURATION")]
    wait: String,
}

/// `mend hook`. `config_path` is the config file given (`--config`,
/// `MEND_CONFIG`), written into the installed command.
pub async fn hook(home: &Home, config: &Config, config_path: Option<&Path>, cmd: HookCmd) -> u8 {
    let HookCmd::Claude(args) = cmd;
    if args.install {
        return install(home, config_path, args.write.as_deref());
    }
    let wait = match mend_core::job::parse_duration_ms(&args.wait) {
        Ok(ms) => Duration::from_millis(ms),
        Err(e) => {
            errln!("mend hook claude: --wait: {e}");
            return EXIT_HOOK_ERROR;
        }
    };
    if std::io::stdin().is_terminal() {
        errln!(
            "mend hook claude: reads the JSON Claude Code sends to a hook on stdin; \
             `mend hook claude --install` prints the settings that make Claude Code run it"
        );
        return EXIT_HOOK_ERROR;
    }
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        errln!("mend hook claude: `stdin`: cannot read it: {e}");
        return EXIT_HOOK_ERROR;
    }
    let input = match HookInput::parse(&text) {
        Ok(i) => i,
        Err(e) => {
            errln!("mend hook claude: bad input: {e}");
            return EXIT_HOOK_ERROR;
        }
    };
    let agent = match Agent::open_with(&home.data_dir, Some(&home.memory)) {
        Ok(a) => a,
        Err(e) => return cannot(&input, &e.to_string()),
    };
    match input.event {
        HookEvent::PreToolUse | HookEvent::PermissionRequest => judge(agent, config, &input, wait).await,
        HookEvent::PostToolUseFailure => {
            let env: Vec<(String, String)> = std::env::vars().collect();
            let r = hook::failure(&agent, &input, config, &env).await;
            agent.close();
            match r {
                Ok(Some(context)) => {
                    print(&json!({"hookSpecificOutput": {"hookEventName": "PostToolUseFailure", "additionalContext": context}}));
                    EXIT_OK
                }
                Ok(None) => EXIT_OK,
                Err(e) => cannot(&input, &e.to_string()),
            }
        }
    }
}

/// Judges a call before it runs and prints the answer for its event.
async fn judge(agent: Agent, config: &Config, input: &HookInput, wait: Duration) -> u8 {
    let registry = hook::registry(agent.journal().path());
    let agent = agent.with_registry(registry);
    let stop = crate::signal::stop_requested();
    let cancel = async { format!("interrupted by {}", stop.await.name()) };
    let r = hook::judge(&agent, input, config, std::env::vars().collect(), wait, cancel).await;
    agent.close();
    let verdict = match r {
        Ok(v) => v,
        Err(e) => return cannot(input, &e.to_string()),
    };
    if let Some(out) = answer(input.event, &verdict) {
        print(&out);
    }
    crate::signal::caught().map(|s| s.exit_code()).unwrap_or(EXIT_OK)
}

/// The JSON Claude Code reads for a verdict; `None` prints nothing (no
/// opinion). `PreToolUse` takes allow, deny or ask; `PermissionRequest`
/// only allow or deny — asking there means showing Claude Code's own
/// dialog, with why in a message to the user.
fn answer(event: HookEvent, verdict: &Verdict) -> Option<Value> {
    let pre = |decision: &str, reason: &str| json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": decision, "permissionDecisionReason": reason}});
    let permission = |decision: Value| json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": decision}});
    match (event, verdict) {
        (_, Verdict::NoOpinion) | (HookEvent::PostToolUseFailure, _) => None,
        (HookEvent::PreToolUse, Verdict::Allow { reason }) => Some(pre("allow", reason)),
        (HookEvent::PreToolUse, Verdict::Deny { reason }) => Some(pre("deny", reason)),
        (HookEvent::PreToolUse, Verdict::Ask { reason, .. }) => Some(pre("ask", reason)),
        (HookEvent::PermissionRequest, Verdict::Allow { reason }) => Some(
            json!({"systemMessage": reason, "hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {"behavior": "allow"}}}),
        ),
        (HookEvent::PermissionRequest, Verdict::Deny { reason }) => Some(permission(json!({"behavior": "deny", "message": reason}))),
        (HookEvent::PermissionRequest, Verdict::Ask { reason, .. }) => Some(json!({"systemMessage": reason})),
    }
}

/// The config does not load (a TOML mistake, a bad `[safety]` pattern):
/// the gate cannot look at the call, so a call about to run is answered
/// "ask", never waved through by an exit 1 (red team). Reads the hook's
/// stdin for its event; bad input is exit 1 naming the field.
pub fn config_broken(why: &str) -> u8 {
    let mut text = String::new();
    if std::io::stdin().is_terminal() || std::io::stdin().read_to_string(&mut text).is_err() {
        errln!("mend hook claude: the config does not load: {why}");
        return EXIT_HOOK_ERROR;
    }
    match HookInput::parse(&text) {
        Ok(input) => cannot(&input, &format!("the config does not load: {why}")),
        Err(e) => {
            errln!("mend hook claude: bad input: {e}");
            EXIT_HOOK_ERROR
        }
    }
}

/// Mend could not do its work for this event (the journal or the memory
/// failed): a call about to run is answered "ask" — the gate could not
/// look at it, so it is not let through unseen —; otherwise exit 1.
fn cannot(input: &HookInput, why: &str) -> u8 {
    errln!("mend hook claude: {why}");
    match input.event {
        HookEvent::PreToolUse => {
            let reason = format!("Mend could not judge this call ({why}): check it yourself.");
            print(&answer(HookEvent::PreToolUse, &Verdict::Ask { reason, request: None }).unwrap_or_default());
            EXIT_OK
        }
        _ => EXIT_HOOK_ERROR,
    }
}

fn print(v: &Value) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{v}");
}

/// `--install`: the hooks, printed, or merged into `write`.
fn install(home: &Home, config_path: Option<&Path>, write: Option<&Path>) -> u8 {
    let exe = match std::env::current_exe().and_then(|p| p.canonicalize()) {
        Ok(p) => p,
        Err(e) => {
            errln!("mend hook claude: cannot tell where this mend is: {e}");
            return EXIT_HOOK_ERROR;
        }
    };
    let command = hook_command(&exe, home, config_path);
    let ours = settings(&command);
    let Some(file) = write else {
        println!("{}", serde_json::to_string_pretty(&ours).unwrap_or_default());
        errln!(
            "Add these hooks to Claude Code's settings (~/.claude/settings.json for every project, .claude/settings.json for one), \
             or run `mend hook claude --install --write ~/.claude/settings.json`."
        );
        return EXIT_OK;
    };
    match merge_into(file, &ours) {
        Ok(()) => {
            errln!(
                "Mend's hooks are in {}: PreToolUse ({PRE_TOOL_USE_MATCHER}) and PostToolUseFailure (*) run `{command}`. \
                 Claude Code reads them when a session starts.",
                file.display()
            );
            EXIT_OK
        }
        Err(e) => {
            errln!("mend hook claude: {e}");
            EXIT_HOOK_ERROR
        }
    }
}

/// The command Claude Code runs: this `mend` by its absolute path, with the
/// data directory, config and memory file this command was given when they
/// are not the defaults (a hook does not see the shell's variables of the
/// person who installed it).
fn hook_command(exe: &Path, home: &Home, config_path: Option<&Path>) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut parts = vec![quote(&exe.display().to_string()), "hook".to_owned(), "claude".to_owned()];
    if home.data_dir != mend_agent::load::default_data_dir() {
        parts.extend(["--data-dir".to_owned(), quote(&abs(&home.data_dir).display().to_string())]);
    }
    if let Some(c) = config_path {
        parts.extend(["--config".to_owned(), quote(&abs(c).display().to_string())]);
    }
    if home.memory != mend_agent::memory::Lessons::default_path(&home.data_dir) {
        parts.extend(["--memory".to_owned(), quote(&abs(&home.memory).display().to_string())]);
    }
    parts.join(" ")
}

/// A word for `sh`: as it is when it needs no quoting, else single-quoted.
fn quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The settings that run `command` for Claude Code's own tools before they
/// run, and for every tool's failure.
fn settings(command: &str) -> Value {
    let group = |matcher: &str| json!({"matcher": matcher, "hooks": [{"type": "command", "command": command, "timeout": HOOK_TIMEOUT_S}]});
    json!({"hooks": {"PreToolUse": [group(PRE_TOOL_USE_MATCHER)], "PostToolUseFailure": [group("*")]}})
}

/// Whether a hook command is a `mend hook claude` (an earlier install,
/// perhaps of another `mend`): replaced, not added twice.
fn is_ours(command: &str) -> bool {
    let first = match command.strip_prefix('\'') {
        Some(rest) => rest.split('\'').next().unwrap_or(""),
        None => command.split_whitespace().next().unwrap_or(""),
    };
    let program = Path::new(first).file_name().and_then(|f| f.to_str()).unwrap_or("");
    program == "mend" && command.contains(" hook claude")
}

/// Merges `ours` into the settings file `file`: its other settings and
/// hooks are kept, an earlier `mend hook claude` is replaced. A missing
/// (or empty) file is created; one that is not a JSON object is an error
/// naming it and is left as it is. Written atomically.
fn merge_into(file: &Path, ours: &Value) -> Result<(), String> {
    let shown = file.display();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{shown}: {e}")),
    };
    let mut settings: Value = if text.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(&text).map_err(|e| format!("{shown} is not JSON ({e}): it was left as it is"))?
    };
    merge(&mut settings, ours).map_err(|e| format!("{shown}: {e}: it was left as it is"))?;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut out = serde_json::to_string_pretty(&settings).map_err(|e| e.to_string())?;
    out.push('\n');
    mend_tools::fs::write_atomic(file, out.as_bytes()).map_err(|e| format!("{shown}: {e}"))
}

/// `ours`' hooks into `settings`, per event: every other matcher group and
/// command is kept; commands that are `mend hook claude` are dropped (and
/// groups left empty by that), then ours are added.
fn merge(settings: &mut Value, ours: &Value) -> Result<(), String> {
    let Some(root) = settings.as_object_mut() else { return Err("the top level is not a JSON object".into()) };
    let hooks = root.entry("hooks").or_insert_with(|| json!({}));
    let Some(hooks) = hooks.as_object_mut() else { return Err("`hooks` is not an object".into()) };
    for (event, groups) in ours["hooks"].as_object().into_iter().flatten() {
        let list = hooks.entry(event.clone()).or_insert_with(|| json!([]));
        let Some(list) = list.as_array_mut() else { return Err(format!("`hooks.{event}` is not an array")) };
        list.retain_mut(|group| {
            let Some(cmds) = group.get_mut("hooks").and_then(Value::as_array_mut) else { return true };
            let before = cmds.len();
            cmds.retain(|h| !h.get("command").and_then(Value::as_str).is_some_and(is_ours));
            cmds.len() == before || !cmds.is_empty()
        });
        list.extend(groups.as_array().into_iter().flatten().cloned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_earlier_install_is_replaced_and_the_rest_kept() {
        let old = "/old/bin/mend hook claude --data-dir /d";
        let mut s = json!({
            "model": "opus",
            "hooks": {
                "PreToolUse": [
                    {"matcher": "Bash", "hooks": [{"type": "command", "command": "~/bin/audit.sh"}]},
                    {"matcher": "Bash|Edit", "hooks": [{"type": "command", "command": old, "timeout": 60}]}
                ],
                "Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]
            }
        });
        merge(&mut s, &settings("/new/mend hook claude")).unwrap();
        let pre = s["hooks"]["PreToolUse"].as_array().unwrap();
        assert_eq!(pre.len(), 2, "{s:#}");
        assert_eq!(pre[0]["hooks"][0]["command"], "~/bin/audit.sh");
        assert_eq!(pre[1]["hooks"][0]["command"], "/new/mend hook claude");
        assert_eq!(s["hooks"]["Stop"][0]["hooks"][0]["command"], "say done");
        assert_eq!(s["hooks"]["PostToolUseFailure"][0]["matcher"], "*");
        assert_eq!(s["model"], "opus");
        // Twice is once.
        let once = s.clone();
        merge(&mut s, &settings("/new/mend hook claude")).unwrap();
        assert_eq!(s, once);
        assert!(merge(&mut json!([1]), &settings("m")).is_err());
        assert!(merge(&mut json!({"hooks": 3}), &settings("m")).is_err());
    }

    #[test]
    fn paths_are_quoted_for_the_shell_when_they_need_it() {
        assert_eq!(quote("/usr/local/bin/mend"), "/usr/local/bin/mend");
        assert_eq!(quote("/Users/me/My Tools/mend"), "'/Users/me/My Tools/mend'");
        assert_eq!(quote("/a/it's"), r"'/a/it'\''s'");
        assert!(is_ours("'/Users/me/My Tools/mend' hook claude"));
        assert!(!is_ours("/usr/bin/amend hook claude"));
        assert!(!is_ours("mend run job.toml"));
    }
}
