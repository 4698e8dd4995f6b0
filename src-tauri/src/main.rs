//! The desktop app's entry point.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // WebKitGTK's accelerated compositing costs ~90 MB per web process (a
    // GL context, software-rendered on most Linux desktops without a GPU
    // driver) for screens that draw nothing that needs it. A user may still
    // set the variable either way.
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        // SAFETY: the first statement of `main`, before any other thread
        // exists to read or write the environment.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        };
    }
    mend_desktop::run();
}
