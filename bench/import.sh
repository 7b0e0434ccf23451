#!/usr/bin/env bash
# Times `sessiongate users import` of a realistic App Services export of N users (default
# 10,000) into a fresh SQLite store, against the real binary. Not a test: prints the time.
#
#   bench/import.sh [N]            # BIN=target/release/sessiongate for a release build
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-10000}"
BIN="${BIN:-target/debug/sessiongate}"
[ -x "$BIN" ] || cargo build --bin sessiongate
WORK="$(mktemp -d)"
trap 'kill "${PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
KEY="bench-admin-key-0123456789"

# The export: mostly email users (no password, as App Services exports them), then
# custom-token, Google and anonymous users, a few linked and disabled ones, ~600 bytes each.
python3 - "$N" > "$WORK/users.json" <<'PY'
import json, sys
n = int(sys.argv[1])
users = []
for i in range(n):
    uid = "65%022x" % i
    kind = i % 10
    created = 1_600_000_000 + i * 97
    if kind < 6:
        email = f"user{i}@example.com"
        identities = [{"id": "66%022x" % i, "provider_type": "local-userpass",
                       "provider_id": "631ee3eb123b64e8db254720",
                       "provider_data": {"email": email}}]
        data = {"email": email}
        if kind == 5:
            identities.append({"id": f"sub-{i}", "provider_type": "custom-token",
                               "provider_id": "6233247fb46a9b5bb144e700",
                               "provider_data": {"name": f"User {i}"}})
            data["name"] = f"User {i}"
    elif kind < 8:
        identities = [{"id": f"sub-{i}", "provider_type": "custom-token",
                       "provider_id": "6233247fb46a9b5bb144e700",
                       "provider_data": {"name": f"User {i}"}}]
        data = {"name": f"User {i}"}
    elif kind == 8:
        identities = [{"id": str(100000000000000000000 + i), "provider_type": "oauth2-google",
                       "provider_id": "64b7f0000000000000000001",
                       "provider_data": {"email": f"g{i}@gmail.com", "name": f"G {i}",
                                         "picture": "https://lh3.googleusercontent.com/a/x"}}]
        data = {"email": f"g{i}@gmail.com", "name": f"G {i}"}
    else:
        identities = [{"id": "67%022x-ygirildjkqbbedrbvisqbjsv" % i, "provider_type": "anon-user",
                       "provider_id": "5e14af3542e9f4d069f9e409"}]
        data = {}
    users.append({"_id": uid, "identities": identities, "type": "normal",
                  "creation_date": created, "last_authentication_date": created + 3600,
                  "disabled": i % 97 == 0, "data": data})
json.dump(users, sys.stdout)
PY

cat > "$WORK/sessiongate.toml" <<TOML
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
[app]
id = "bench-app"
[store]
url = "sqlite://$WORK/sessiongate.db"
[upstream]
url = "http://127.0.0.1:9"
TOML

SESSIONGATE_ADMIN__API_KEY="$KEY" SESSIONGATE_LOG=warn "$BIN" serve --config "$WORK/sessiongate.toml" \
    > "$WORK/out" 2> "$WORK/err" &
PID=$!
for _ in $(seq 1 100); do grep -q "sessiongate ready" "$WORK/out" && break; sleep 0.1; done
ADMIN="$(grep -o 'admin=[^ ]*' "$WORK/out" | head -1 | cut -d= -f2)"
[ -n "$ADMIN" ] || { cat "$WORK/err"; exit 1; }

run() {
    local start end
    start=$(date +%s.%N)
    SESSIONGATE_ADMIN__API_KEY="$KEY" "$BIN" users import "$WORK/users.json" \
        --url "$ADMIN" --app bench-app --config "$WORK/none.toml"
    end=$(date +%s.%N)
    echo "$1: $(echo "$end - $start" | bc) s"
}
echo "export: $N users, $(stat -c %s "$WORK/users.json") bytes"
run "first import (all created)"
run "second import (all skipped)"
