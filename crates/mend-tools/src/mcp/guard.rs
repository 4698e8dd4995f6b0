//! No MCP server outlives Mend (issue 16), however Mend ends — `kill -9`
//! included, when no destructor runs.
//!
//! Each server runs in its own process group, led by a watcher Mend starts
//! first: `sh` reading its standard input, which is the
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

/// Starts a watcher as the leader of a new process group and returns the
/// group's id, for the server to be started into (`process_group(id)`):
/// the watcher is in place before the server exists, so there is no moment
/// when a `kill -9` of Mend would leave the server unwatched. Errors: the
/// pipe or the watcher could not be made (the caller then starts the
/// server in a group of its own, watched by nobody).
pub fn new_group() -> std::io::Result<u32> {
    let (reader, _) = lifeline().ok_or_else(|| std::io::Error::other("no lifeline pipe"))?;
    let stdin = std::process::Stdio::from(reader.try_clone()?);
    // `read` returns at end of file: this process is gone; `$$` is the
    // watcher, the group's leader. Dropping the handle leaves it running;
    // tokio reaps it when it ends.
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg("read _ ; kill -9 -$$")
        .arg("mend-mcp-watch")
        .stdin(stdin)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(false)
        .spawn()?;
    child.id().ok_or_else(|| std::io::Error::other("the watcher ended at once"))
}
