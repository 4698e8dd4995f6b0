//! Mend's desktop shell. Thin on purpose: commands are a few lines that call
//! the [`desk::Desk`] (the background agent over `mend-agent`), grouped one
//! module per screen and registered in one place ([`setup`]). The builder
//! is generic over the runtime so tests drive it with
//! `tauri::test::mock_builder()`.
//!
//! The app keeps running with its window closed (tray icon); Quit from the
//! tray stops the runs cleanly, leaving requests that wait for a person
//! pending in the journal — they pop up again at the next start. SIGTERM,
//! SIGHUP and SIGINT (a logout, `kill`, Ctrl-C where it was started) do
//! the same.

use std::path::Path;
use std::sync::Arc;

use mend_core::approval::ApprovalRequest;
use serde_json::Value;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Builder, Emitter, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};

pub mod approvals;
pub mod audit;
pub mod dashboard;
pub mod desk;
pub mod error;
pub mod ipc;
pub mod memory;
pub mod overview;
pub mod runs;
pub mod servers;
pub mod settings;
pub mod timing;

use desk::{Desk, Paths, Shell};

/// The approval popup's window label.
pub const POPUP: &str = "approval";

/// Registers the desk and every command on a builder (the real one, or
/// `tauri::test::mock_builder()` in tests).
pub fn setup<R: Runtime>(builder: Builder<R>, desk: Arc<Desk>) -> Builder<R> {
    builder.manage(desk).invoke_handler(tauri::generate_handler![
        overview::overview,
        runs::runs_list,
        runs::run_events,
        runs::jobs_list,
        runs::job_start,
        runs::demo_start,
        runs::run_cancel,
        runs::run_rerun,
        runs::run_resume,
        runs::job_open,
        approvals::approvals_pending,
        approvals::approval_get,
        approvals::approval_decide,
        approvals::approval_defer,
        approvals::approvals_show,
        approvals::rules_list,
        approvals::rule_forget,
        approvals::ui_painted,
        settings::settings_get,
        settings::settings_autostart,
        memory::memory_view,
        memory::memory_search,
        memory::memory_save,
        memory::memory_raw,
        memory::memory_open,
        dashboard::dashboard,
        dashboard::agents_list,
        audit::audit_events,
        audit::audit_export,
        servers::servers_view,
        servers::server_disable,
        servers::server_enable,
        servers::server_restart,
    ])
}

/// The window system, for the desk.
pub struct TauriShell<R: Runtime>(pub AppHandle<R>);

impl<R: Runtime> Shell for TauriShell<R> {
    fn emit(&self, event: &str, payload: Value) {
        let _ = self.0.emit(event, payload);
    }

    fn approval_raised(&self, request: &ApprovalRequest) {
        let app = self.0.clone();
        // The request rides along into a new window, so its first paint needs
        // no IPC round trip.
        let first = serde_json::to_string(&ipc::Pending { request: request.clone(), live: true }).unwrap_or_else(|_| "null".into());
        let _ = self.0.run_on_main_thread(move || show_popup(&app, Some(first)));
        let _ = self.0.emit("approval", request);
        if let Some(n) = self.0.try_state::<tauri_plugin_notification::Notification<R>>() {
            // Without a notification daemon (a bare X server) this fails; the popup is enough.
            let _ = n.builder().title(format!("Mend: {}", request.title)).body(request.recommendation.clone()).show();
        }
    }

    fn hide_popup(&self, close: bool) {
        if let Some(w) = self.0.get_webview_window(POPUP) {
            let _ = if close { w.close() } else { w.hide() };
        }
    }

    fn runs_changed(&self, live: usize) {
        let app = self.0.clone();
        let _ = self.0.run_on_main_thread(move || match app.get_webview_window(POPUP) {
            None if live > 0 => build_popup(&app, None, false),
            Some(w) if live == 0 && !w.is_visible().unwrap_or(true) => {
                let _ = w.close();
            }
            _ => {}
        });
    }

    fn open_path(&self, path: &Path) -> Result<(), String> {
        let opener = self.0.try_state::<tauri_plugin_opener::Opener<R>>().ok_or("opening files is not available here")?;
        opener.open_path(path.display().to_string(), None::<&str>).map_err(|e| e.to_string())
    }
}

/// Opens the always-on-top approval popup, or shows and focuses it.
/// `first` is the JSON of the request a new window shows before it has
/// read the whole queue.
pub fn show_popup<R: Runtime>(app: &AppHandle<R>, first: Option<String>) {
    match app.get_webview_window(POPUP) {
        Some(w) => bring_forward(&w),
        None => build_popup(app, first, true),
    }
}

fn build_popup<R: Runtime>(app: &AppHandle<R>, first: Option<String>, visible: bool) {
    let built = WebviewWindowBuilder::new(app, POPUP, WebviewUrl::App("approval.html".into()))
        .initialization_script(format!("window.__MEND_FIRST__ = {};", first.as_deref().unwrap_or("null")))
        .title("Mend — a decision is needed")
        .inner_size(560.0, 640.0)
        .min_inner_size(420.0, 420.0)
        .always_on_top(true)
        .visible(visible)
        .focused(visible)
        .center()
        .build();
    if let Err(e) = built {
        eprintln!("mend-desktop: cannot open the approval window: {e}");
    }
}

fn bring_forward<R: Runtime>(w: &tauri::WebviewWindow<R>) {
    let _ = w.show();
    let _ = w.unminimize();
    let _ = w.set_focus();
}

/// Shows the main window, creating it if it was closed to the tray.
pub fn show_main<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window("main") {
        return bring_forward(&w);
    }
    let Some(config) = app.config().app.windows.iter().find(|w| w.label == "main").cloned() else { return };
    let built = WebviewWindowBuilder::from_config(app, &config).and_then(|b| b.build());
    if let Err(e) = built {
        eprintln!("mend-desktop: cannot open the main window: {e}");
    }
}

fn quit<R: Runtime>(app: &AppHandle<R>) {
    let desk = app.state::<Arc<Desk>>().inner().clone();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        desk.shutdown().await;
        app.exit(0);
    });
}

/// Waits for SIGTERM, SIGHUP or SIGINT, then quits as the tray's Quit does,
/// so no run is left `running` in the journal.
#[cfg(unix)]
async fn quit_on_signal<R: Runtime>(app: AppHandle<R>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup), Ok(mut int)) =
        (signal(SignalKind::terminate()), signal(SignalKind::hangup()), signal(SignalKind::interrupt()))
    else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = hup.recv() => {}
        _ = int.recv() => {}
    }
    quit(&app);
}

fn tray<R: Runtime>(app: &tauri::App<R>) -> tauri::Result<()> {
    let show = MenuItem::with_id(app, "show", "Show Mend", true, None::<&str>)?;
    let approvals = MenuItem::with_id(app, "approvals", "Decisions waiting…", true, None::<&str>)?;
    let quit_item = MenuItem::with_id(app, "quit", "Quit Mend", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&show, &approvals, &quit_item])?;
    let mut tray = TrayIconBuilder::with_id("mend").tooltip("Mend").menu(&menu).on_menu_event(|app, e| match e.id.as_ref() {
        "show" => show_main(app),
        "approvals" => show_popup(app, None),
        "quit" => quit(app),
        _ => {}
    });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    Ok(())
}

/// The desktop app's command line.
#[derive(Debug, clap::Parser)]
#[command(name = "mend-desktop", version, about = "Mend's desktop app: jobs that heal themselves, and a popup when they cannot.")]
pub struct Args {
    /// Where the journal lives [default: MEND_DATA_DIR or the OS data directory].
    #[arg(long, env = "MEND_DATA_DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// The folder of job files run on their schedules [default: MEND_JOBS_DIR or DATA_DIR/jobs].
    #[arg(long, env = "MEND_JOBS_DIR")]
    pub jobs_dir: Option<std::path::PathBuf>,
    /// The config file [default: MEND_CONFIG or the OS config directory's mend/config.toml].
    #[arg(long, env = "MEND_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Start in the tray, window hidden (what start at login uses).
    #[arg(long)]
    pub hidden: bool,
    /// Do not run the demo on a fresh install.
    #[arg(long, env = "MEND_NO_DEMO")]
    pub no_demo: bool,
    /// The memory file [default: MEND_MEMORY, or MEMORY.md in the data directory].
    #[arg(long, env = "MEND_MEMORY")]
    pub memory: Option<std::path::PathBuf>,
}

/// Runs the desktop app.
pub fn run() {
    timing::process_started();
    let args = <Args as clap::Parser>::parse();
    let config = match mend_agent::load::config(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mend-desktop: {e}");
            std::process::exit(2);
        }
    };
    let data_dir = args.data_dir.clone().unwrap_or_else(mend_agent::load::default_data_dir);
    let jobs_dir = args.jobs_dir.clone().unwrap_or_else(|| data_dir.join("jobs"));
    let desk = match Desk::open(&Paths { data_dir, jobs_dir, memory: args.memory.clone() }, config) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("mend-desktop: {e}");
            std::process::exit(1);
        }
    };
    let builder = Builder::default()
        // First: a second launch focuses this one and exits.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| show_main(app)))
        // The main window's size and place; the popup is centred each time,
        // and visibility is the app's to decide.
        .plugin(
            tauri_plugin_window_state::Builder::new()
                .with_state_flags(tauri_plugin_window_state::StateFlags::all() - tauri_plugin_window_state::StateFlags::VISIBLE)
                .with_denylist(&[POPUP])
                .build(),
        )
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_autostart::init(tauri_plugin_autostart::MacosLauncher::LaunchAgent, Some(vec!["--hidden"])));
    let (hidden, no_demo) = (args.hidden, args.no_demo);
    let app = setup(builder, desk.clone())
        .setup(move |app| {
            desk.attach(Arc::new(TauriShell(app.handle().clone())));
            #[cfg(unix)]
            tauri::async_runtime::spawn(quit_on_signal(app.handle().clone()));
            if let Err(e) = tray(app) {
                eprintln!("mend-desktop: no tray icon: {e}");
            }
            if !hidden {
                show_main(app.handle());
            }
            desk.raise_pending();
            tauri::async_runtime::spawn(desk.clone().schedule());
            let d = desk.clone();
            tauri::async_runtime::spawn(async move {
                if no_demo {
                    return;
                }
                if let Err(e) = d.first_start().await {
                    eprintln!("mend-desktop: the demo did not start: {e}");
                }
            });
            Ok(())
        })
        .build(tauri::generate_context!("../tauri.conf.json"));
    let app = match app {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mend-desktop: {e}");
            std::process::exit(1);
        }
    };
    app.run(|_app, event| {
        // Closing a window destroys its web view (its WebKit process ends, so
        // the app idles small in the tray); the agent and its jobs go on, and
        // the tray brings the window back. Quit is in the tray.
        if let tauri::RunEvent::ExitRequested { code: None, api, .. } = event {
            api.prevent_exit();
        }
    });
}
