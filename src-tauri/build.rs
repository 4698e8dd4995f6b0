//! Tauri's build step, with the config at the workspace root.

fn main() {
    tauri_build::try_build(tauri_build::Attributes::new().config_path("../tauri.conf.json")).expect("tauri build step");
}
