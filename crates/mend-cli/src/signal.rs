//! Stopping on a signal: SIGINT (Ctrl-C), SIGTERM (`systemctl stop`,
//! `timeout`, `kill`) and SIGHUP (the terminal went away) all interrupt a
//! run the same way — the command's process group is ended, the run is
//! journaled as interrupted — instead of the process dying with a ghost
//! `running` run in the journal.
//!
//! Only the commands that run jobs listen. Once listened for, a signal no
//! longer ends the process by itself until it exits, so the first one
//! caught is remembered: a stop that arrives between two runs of the daemon
//! is seen by the next wait.

use std::future::Future;
use std::sync::OnceLock;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// A signal that asks Mend to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGHUP.
    Hangup,
}

impl Stop {
    /// The signal's name.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
            Stop::Hangup => "SIGHUP",
        }
    }

    /// The exit code, 128 + the signal's number, as shells report a process
    /// the signal ended (see the exit codes in `main.rs`).
    pub fn exit_code(self) -> u8 {
        match self {
            Stop::Interrupt => crate::EXIT_INTERRUPTED,
            Stop::Terminate => crate::EXIT_TERMINATED,
            Stop::Hangup => crate::EXIT_HANGUP,
        }
    }
}

/// The first stop signal caught (`None` until then), from the listening
/// task the first [`stop_requested`] starts; `None` inside if the signals
/// cannot be listened for.
static CAUGHT: OnceLock<Option<watch::Receiver<Option<Stop>>>> = OnceLock::new();

fn listen() -> Option<watch::Receiver<Option<Stop>>> {
    CAUGHT
        .get_or_init(|| {
            let (mut int, mut term, mut hup) =
                match (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup())) {
                    (Ok(i), Ok(t), Ok(h)) => (i, t, h),
                    _ => return None,
                };
            let (tx, rx) = watch::channel(None);
            tokio::spawn(async move {
                loop {
                    let stop = tokio::select! {
                        _ = int.recv() => Stop::Interrupt,
                        _ = term.recv() => Stop::Terminate,
                        _ = hup.recv() => Stop::Hangup,
                    };
                    // The first one counts; later ones are swallowed.
                    if tx.borrow().is_none() {
                        tx.send_replace(Some(stop));
                    }
                }
            });
            Some(rx)
        })
        .clone()
}

/// A future that completes on the first of SIGINT, SIGTERM and SIGHUP —
/// at once if one was caught before. Listening starts when this is called
/// (within the runtime), not when the future is first polled. Should the
/// signals be impossible to listen for, it never completes, and the
/// signals keep their default action.
pub fn stop_requested() -> impl Future<Output = Stop> + Send + 'static {
    // Installed here, synchronously, so a signal is caught from the moment
    // the caller has the future, before it is first polled.
    let rx = listen();
    async move {
        let Some(mut rx) = rx else { return std::future::pending().await };
        let caught = rx.wait_for(Option::is_some).await.map(|s| *s);
        match caught {
            Ok(Some(s)) => s,
            // The listening task ended with the runtime.
            _ => std::future::pending().await,
        }
    }
}

/// The stop signal caught so far, if any.
pub fn caught() -> Option<Stop> {
    CAUGHT.get().and_then(|rx| rx.as_ref()).and_then(|rx| *rx.borrow())
}
