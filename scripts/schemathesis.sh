#!/usr/bin/env bash
# API-contract fuzzing of API v2 with Schemathesis (docs/HOSTILE.md, TESTPLAN T12).
#
# Builds `once`, serves it on a free loopback port from a throwaway data dir (reveals and burns
# consume data) with rate limits off, and runs Schemathesis against /api/v2/openapi.json with a
# fixed seed and a bounded number of examples. An admin's API key (every scope) is sent as
# `Authorization: Bearer`, so the operations that need an account are exercised too.
#
# Exit status: 0 clean; 1 a server error (5xx) or a failure to run; 2 no server error, but other
# checks failed (schema or status-code conformance: findings to look at). The JUnit reports and
# the server's log are left in target/schemathesis/.
#
#   scripts/schemathesis.sh                 # 1,000 examples per operation: about two minutes
#   SCHEMATHESIS_EXAMPLES=200 scripts/schemathesis.sh
#   scripts/schemathesis.sh --include-path /api/v2/secrets   # extra flags go to `schemathesis run`
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-1000}
SEED=${SCHEMATHESIS_SEED:-42}
VENV=target/schemathesis-venv
OUT=target/schemathesis

# --- Schemathesis, pinned, in its own venv.
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$"; then
  echo "schemathesis.sh: installing schemathesis $SCHEMATHESIS_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# --- The server.
cargo build --quiet -p once
ONCE=${CARGO_TARGET_DIR:-target}/debug/once
rm -rf "$OUT"
mkdir -p "$OUT"
# Schemathesis keeps past failures to replay first; keep them in $OUT (fresh each run, so the seed
# alone decides a run) rather than in .schemathesis/ at the top of the tree.
printf '[cache]\ndirectory = "%s"\n' "$PWD/$OUT/cache" >"$OUT/schemathesis.toml"
DATA=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
# An admin (all four scopes); the line with the key is the one starting `once_`.
KEY=$("$ONCE" user add --admin --data-dir "$DATA" schemathesis@example.com 2>/dev/null | grep '^once_' | head -n1 || true)
if [ -z "$KEY" ]; then
  echo "schemathesis.sh: could not add the admin user" >&2
  exit 1
fi

ONCE_LIMITS__ENABLED=false RUST_LOG=${RUST_LOG:-warn} \
  "$ONCE" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$BASE/readyz" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "schemathesis.sh: the server did not start:" >&2
    cat "$OUT/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
if ! python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$BASE/readyz" 2>/dev/null; then
  echo "schemathesis.sh: the server is not ready after 10 s (see $OUT/server.log)" >&2
  exit 1
fi

# --- The run, in two passes: revoking a key is fuzzed last and alone, because Schemathesis reuses
# the ids `GET /api/v2/keys` lists and so revokes the very key it authenticates with, after which
# every operation would only see 401.
run_pass() {
  local name=$1
  shift
  "$VENV/bin/schemathesis" --config-file "$OUT/schemathesis.toml" run "$BASE/api/v2/openapi.json" \
    --url "$BASE" \
    --header "Authorization: Bearer $KEY" \
    --phases examples,coverage,fuzzing,stateful \
    --checks all \
    --mode all \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --workers 1 \
    --request-timeout 10 \
    --max-response-time 5 \
    --suppress-health-check all \
    --continue-on-failure \
    --output-sanitize false \
    --report junit \
    --report-junit-path "$OUT/junit-$name.xml" \
    "$@"
}
set +e
run_pass main --exclude-operation-id revoke_key "$@"
MAIN=$?
run_pass revoke --include-operation-id revoke_key "$@"
REVOKE=$?
set -e

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "schemathesis.sh: the server died during the run (see $OUT/server.log)" >&2
  exit 1
fi

# The verdict, from the JUnit reports: ST101/ST102 (or any 5xx answer) are server errors; every
# other code is a conformance finding.
python3 - "$MAIN" "$REVOKE" "$OUT/junit-main.xml" "$OUT/junit-revoke.xml" <<'PY'
import collections, re, sys, xml.etree.ElementTree as ET

statuses, paths = [int(s) for s in sys.argv[1:3]], sys.argv[3:]
findings = collections.Counter()
server_errors, run_errors = set(), []
for path in paths:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"schemathesis.sh: no JUnit report {path} ({e})", file=sys.stderr)
        sys.exit(1)
    for case in root.iter("testcase"):
        for bad in case.iter("failure"):
            text = (bad.get("message") or "") + "\n" + (bad.text or "")
            titles = re.findall(r"^- (ST\d{3} [^\n]+)$", text, re.M) or re.findall(r"ST\d{3}", text)
            for t in set(titles):
                findings[f"{case.get('name')}: {t}"] += 1
            if re.search(r"\bST10[12]\b", text) or re.search(r"^\[5\d\d\]", text, re.M):
                server_errors.add(case.get("name"))
        for bad in case.iter("error"):
            run_errors.append(f"{case.get('name')}: {(bad.get('message') or '').strip()[:200]}")
for f, n in sorted(findings.items()):
    print(f"schemathesis.sh: finding: {f}")
for e in run_errors:
    print(f"schemathesis.sh: error: {e}", file=sys.stderr)
if server_errors:
    print("schemathesis.sh: SERVER ERRORS in:", ", ".join(sorted(server_errors)), file=sys.stderr)
    sys.exit(1)
if run_errors or (any(statuses) and not findings):
    print(f"schemathesis.sh: the run did not complete cleanly (exit {statuses})", file=sys.stderr)
    sys.exit(1)
if findings:
    print(f"schemathesis.sh: no server error; {len(findings)} conformance finding(s)", file=sys.stderr)
    sys.exit(2)
print("schemathesis.sh: clean: no server error, no finding")
PY
