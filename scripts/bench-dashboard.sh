#!/usr/bin/env bash
# The dashboard at a million events (BENCHMARKS.md): the journal's queries
# (release, through the real writer), then the built UI drawing that view in
# Chromium. Prints two markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd ui && npm run build --silent)
view="$(mktemp --suffix=.json)"
trap 'rm -f "$view"' EXIT
MEND_DASHBOARD_JSON="$view" cargo bench --locked -p mend-journal --bench dashboard 2>/dev/null | grep '^|'
echo
MEND_DASHBOARD_JSON="$view" node ui/tests/bench-dashboard.mjs
