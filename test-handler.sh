#!/usr/bin/env bash
# Runs the queue handler locally on test inputs, as RunPod's local test mode does:
#   ./test-handler.sh                 # tests/fixtures/test_input.json
#   ./test-handler.sh FILE.json ...   # these jobs
# Uses `uv run` when uv is installed (the project's environment, with cloudpickle),
# else $PYTHON or python3. Exits 0 when every job succeeded, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")"

if [ -n "${PYTHON:-}" ]; then
    run=("$PYTHON")
elif command -v uv >/dev/null 2>&1; then
    run=(uv run --quiet python)
else
    run=(python3)
fi

if [ "$#" -eq 0 ]; then
    set -- tests/fixtures/test_input.json
fi

passed=0
failed=0
for file in "$@"; do
    echo "=== $file"
    if "${run[@]}" -m worker.handler --test-input-file "$file"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAILED: $file" >&2
    fi
done
echo "test-handler: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
