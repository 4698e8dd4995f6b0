#!/usr/bin/env bash
# End to end in the real app: builds mend-desktop and mend, starts Xvfb and
# tauri-driver (scripts/desktop-stage.sh), and runs ui/tests/e2e/app.e2e.mjs
# against a fresh data directory: the first-start demo heals, escalates, the
# test decides in the approval popup, the job completes, the journal shows
# the decision. Screenshots land in ui/test-results/.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f ui/dist/index.html ] || (cd ui && npm run build --silent)
cargo build --locked -p mend-desktop -p mend-cli -p mend-faults
stage="$(mktemp -d)"
export MEND_DATA_DIR="$stage/data" MEND_JOBS_DIR="$stage/jobs" XDG_CONFIG_HOME="$stage/config" XDG_DATA_HOME="$stage/share"
source scripts/desktop-stage.sh
trap 'stage_cleanup; rm -rf "$stage"' EXIT
MEND_E2E_APP="$PWD/target/debug/mend-desktop" MEND_E2E_CLI="$PWD/target/debug/mend" MEND_E2E_FAULT_MCP="$PWD/target/debug/mend-fault-mcp" \
  node --test ui/tests/e2e/app.e2e.mjs || { echo "--- tauri-driver log"; tail -50 "$work/driver.log"; exit 1; }
