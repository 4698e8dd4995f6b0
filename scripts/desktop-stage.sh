# Sourced by e2e.sh and bench-desktop.sh: installs tauri-driver if missing,
# starts Xvfb on a free display and tauri-driver (WebKitWebDriver under it)
# on a free port, and stops both on exit. Sets $work (a temp folder removed
# on exit), DISPLAY and MEND_E2E_DRIVER; extra environment for the app
# (which tauri-driver passes on) must be exported before sourcing.
export PATH="$HOME/.cargo/bin:$PATH"
command -v tauri-driver >/dev/null || cargo install tauri-driver --locked --version 2.1.0
command -v WebKitWebDriver >/dev/null || { echo "WebKitWebDriver missing (Debian package webkit2gtk-driver)" >&2; exit 2; }
work="$(mktemp -d)"
stage_pids=()
stage_cleanup() {
  for p in "${stage_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap stage_cleanup EXIT
for n in $(seq 90 140); do
  [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || break
done
export DISPLAY=":$n"
Xvfb "$DISPLAY" -screen 0 1400x900x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
stage_pids+=($!)
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.1; done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
native=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tauri-driver --port "$port" --native-port "$native" >"$work/driver.log" 2>&1 &
stage_pids+=($!)
for _ in $(seq 100); do
  curl -s "http://127.0.0.1:$port/status" >/dev/null 2>&1 && break
  sleep 0.1
done
export MEND_E2E_DRIVER="http://127.0.0.1:$port"
