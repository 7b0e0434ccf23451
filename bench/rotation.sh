#!/usr/bin/env bash
# Cost of refresh-token rotation and of the session cap (issue #11), on SQLite: one real
# `sessiongate serve` per configuration, N sequential requests with curl, each timed by curl
# (time_total, a new local connection each), reported as p50/p90/p99/max in ms.
#   refresh, rotation off       POST /auth/session with the same refresh token
#   refresh, rotation on        POST /auth/session, each with the token the previous answered
#   login, cap 5 evict_oldest   anonymous-user logins are one user each, so the cap's count
#                               runs but evicts nothing; email/password logins would time
#                               argon2, not the cap: see the login rows of bench/README.md
#   login, no cap               the same logins without [sessions]
#
#   bench/rotation.sh
#   N=1000 bench/rotation.sh
#   BIN=target/debug/sessiongate bench/rotation.sh   # skip the release build (slower numbers)
#
# Settings (environment): N (300), BIN (target/release/sessiongate, built first when unset).
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-300}"
[[ "$N" =~ ^[1-9][0-9]*$ ]] || {
  echo "bench/rotation.sh: N must be a positive integer, got '$N'" >&2
  exit 1
}
if [[ -z "${BIN:-}" ]]; then
  cargo build --release --quiet --bin sessiongate
  BIN=target/release/sessiongate
fi

work="$(mktemp -d)"
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# start NAME EXTRA_TOML: runs the gateway, sets $client to its client URL.
start() {
  local name="$1" extra="$2"
  cat >"$work/$name.toml" <<EOF
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
[app]
id = "bench-app"
[store]
url = "sqlite://$work/$name.db"
[upstream]
url = "http://127.0.0.1:9"
$extra
EOF
  SESSIONGATE_LOG=warn "$BIN" serve --config "$work/$name.toml" >"$work/$name.out" 2>"$work/$name.err" &
  pid=$!
  for _ in $(seq 1 200); do
    grep -q "sessiongate ready" "$work/$name.out" 2>/dev/null && break
    sleep 0.05
  done
  client="$(grep -o 'client=[^ ]*' "$work/$name.out" | head -1 | cut -d= -f2)"
  [[ -n "$client" ]] || {
    echo "gateway $name did not start:" >&2
    cat "$work/$name.err" >&2
    exit 1
  }
}

stop() {
  kill "$pid" && wait "$pid" 2>/dev/null || true
  pid=""
}

# report LABEL FILE: percentiles of the seconds in FILE, in ms.
report() {
  sort -g "$2" | awk -v label="$1" '
    function at(q,   i) { i = int(NR * q); if (i < 1) i = 1; return v[i] }
    { v[NR] = $1 * 1000 }
    END {
      printf "%-28s n=%d p50=%.2f p90=%.2f p99=%.2f max=%.2f ms\n", label, NR,
        at(0.50), at(0.90), at(0.99), v[NR]
    }'
}

login() {
  curl -s -X POST "$client/api/client/v2.0/app/bench-app/auth/providers/anon-user/login"
}

json_field() {
  python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"
}

refreshes() {
  local label="$1" rotating="$2" token times="$work/times"
  token="$(login | json_field refresh_token)"
  : >"$times"
  for _ in $(seq 1 "$N"); do
    out="$(curl -s -X POST -H "Authorization: Bearer $token" \
      -w '\n%{http_code} %{time_total}' "$client/api/client/v2.0/auth/session")"
    read -r code seconds <<<"$(tail -1 <<<"$out")"
    [[ "$code" == 201 ]] || {
      echo "refresh answered $code" >&2
      exit 1
    }
    echo "$seconds" >>"$times"
    if [[ "$rotating" == yes ]]; then
      token="$(head -1 <<<"$out" | json_field refresh_token)"
    fi
  done
  report "$label" "$times"
}

logins() {
  local label="$1" times="$work/times"
  : >"$times"
  for _ in $(seq 1 "$N"); do
    read -r code seconds <<<"$(curl -s -o /dev/null -X POST -w '%{http_code} %{time_total}' \
      "$client/api/client/v2.0/app/bench-app/auth/providers/anon-user/login")"
    [[ "$code" == 200 ]] || {
      echo "login answered $code" >&2
      exit 1
    }
    echo "$seconds" >>"$times"
  done
  report "$label" "$times"
}

export SESSIONGATE_ADMIN__API_KEY=bench-admin-key-0123456789
echo "host: $(nproc) CPUs; binary: $BIN; N=$N sequential requests each"
start off ""
refreshes "refresh, rotation off" no
logins "login, no cap"
stop
start on $'[tokens]\nrotate_refresh_tokens = true\n[sessions]\nmax_per_user = 5'
refreshes "refresh, rotation on" yes
logins "login, cap 5 evict_oldest"
stop
