//! No MCP server outlives Mend (issue 16), however Mend ends — `kill -9`
//! included, when no destructor runs.
//!
//! Each server runs in its own process group. Beside it, in the same group,
//! Mend starts a watcher: `sh` reading its standard input, which is the
//! read end of a pipe whose only write end this process holds (opened
//! close-on-exec, so no child inherits it). While Mend lives the read
//! blocks; when Mend's process ends, however it ends, the kernel closes the
//! write end, the read returns, and the watcher kills the whole group
//! (`kill -9 -PGID`; dash has no `--`), the server's own children with it. The watcher is
//! in the group it guards, so Mend's own [`kill_group`](super::client::kill_group)
//! (a restart, a shutdown) ends it too.

use std::sync::OnceLock;

/// The pipe whose write end lives as long as this process: `None` when it
/// could not be made (then servers still end with Mend when it exits
/// normally, not after a `kill -9`).
fn lifeline() -> Option<&'static (std::io::PipeReader, std::io::PipeWriter)> {
    static PIPE: OnceLock<Option<(std::io::PipeReader, std::io::PipeWriter)>> = OnceLock::new();
    PIPE.get_or_init(|| std::io::pipe().ok()).as_ref()
}

/// Starts the watcher of process group `pgid` (a server's, just started).
/// Errors: the pipe or the watcher could not be made, or the group is
/// already gone; the server runs on either way, and the error says why.
pub fn watch(pgid: u32) -> std::io::Result<()> {
    let (reader, _) = lifeline().ok_or_else(|| std::io::Error::other("no lifeline pipe"))?;
    let group = i32::try_from(pgid).map_err(|_| std::io::Error::other("process group id out of range"))?;
    let stdin = std::process::Stdio::from(reader.try_clone()?);
    // `read` returns at end of file: this process is gone. Dropping the
    // handle leaves the watcher running; tokio reaps it when it ends.
    tokio::process::Command::new("sh")
        .arg("-c")
        .arg("read _ ; kill -9 -\"$1\"")
        .arg("mend-mcp-watch")
        .arg(pgid.to_string())
        .stdin(stdin)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(group)
        .kill_on_drop(false)
        .spawn()
        .map(drop)
}
