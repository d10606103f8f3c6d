#!/usr/bin/env bash
# A local fleet on real components: two private engines and a registry (scripts/env.sh), registry-api on SQLite
# with in-process jobs, one device supervisor managing its own engine, and the meter fleet's release pushed with the
# CLI. A re-run pushes the same content, which the API answers with the existing release: no new one.
#
#   bash scripts/demo.sh up      # install and compile (scripts/deps.sh), then start
#   bash scripts/demo.sh start   # start everything, push, wait until the device runs the release
#   bash scripts/demo.sh down    # stop it all (data stays in .skiff/ENV for the next run)
#
# SKIFF_DEMO_ENV picks the environment (default demo; the end-to-end test uses e2e); SKIFF_DIST the compiled tree
# (default dist/; a test runs the tree it was compiled in).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SKIFF_REPO"

env=${SKIFF_DEMO_ENV:-demo}
fleet=${SKIFF_DEMO_FLEET:-meter-fleet}
dist=${SKIFF_DIST:-$SKIFF_REPO/dist}
root="$SKIFF_REPO/.skiff/$env"
api_dir="$root/api"
device_dir="$root/device"

skiff() { node "$dist/cli/main.js" "$@"; }
# Logs and the device's config carry secrets (the provisioning key, what a request logs): readable by this user only,
# whatever the directory's mode or the umask, and tightened if an earlier run left them open.
private_file() { touch "$1" && chmod 600 "$1"; }
json_field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);const r=new Function("v","return "+process.argv[1])(v);console.log(r===undefined||r===null?"":r)})' "$1"; }

api_up() {
  local port=$1 registry=$2
  export SKIFF_API_URL="http://127.0.0.1:$port"
  if curl -sf "$SKIFF_API_URL/v1/info" >/dev/null 2>&1; then
    say "registry-api already running ($SKIFF_API_URL)"
  else
    mkdir -p "$api_dir"
    private_file "$api_dir/api.log"
    SKIFF_DATA_DIR="$api_dir" SKIFF_API_PORT="$port" SKIFF_REGISTRY="$registry" \
      setsid node "$dist/registry-api/main.js" >>"$api_dir/api.log" 2>&1 </dev/null &
    echo $! >"$api_dir/api.pid"
    wait_for "registry-api" 30 curl -sf "$SKIFF_API_URL/v1/info" ||
      { tail -20 "$api_dir/api.log" >&2; die "registry-api did not start (log: $api_dir/api.log)"; }
  fi
  SKIFF_API_TOKEN=$(cat "$api_dir/admin-token")
  export SKIFF_API_TOKEN
}

device_up() {
  local device_docker_host=$1
  mkdir -p "$device_dir"
  if pid_alive "$device_dir/supervisor.pid"; then
    say "device supervisor already running (pid $(cat "$device_dir/supervisor.pid"))"; return 0
  fi
  if [ ! -f "$device_dir/config.json" ]; then
    local key
    # Keys are kept hashed, so the demo makes a key of its own for its device.
    # The CLI's "store it now" note is for a person; this key goes straight into the device's config below.
    local key_err
    key_err=$(mktemp)
    key=$(skiff keys create "$fleet" --label demo-device --json 2>"$key_err" | json_field 'v.key') ||
      { cat "$key_err" >&2; rm -f "$key_err"; die "could not create the demo device's provisioning key"; }
    rm -f "$key_err"
    # The API's target-signing key, pinned as an operator does: read once from the API over a trusted channel
    # (here loopback); the device never learns it from the API it talks to.
    local signing_key
    signing_key=$(curl -sf "$SKIFF_API_URL/v1/info" | json_field 'v.signingKey')
    [ -n "$signing_key" ] || { echo "demo: GET $SKIFF_API_URL/v1/info gave no signingKey to pin" >&2; return 1; }
    # What an installer's provisioning step leaves on the device: where the API is, its key, how to join the fleet.
    private_file "$device_dir/config.json"
    cat >"$device_dir/config.json" <<EOF
{
  "apiUrl": "$SKIFF_API_URL",
  "apiSigningKey": "$signing_key",
  "fleet": "$fleet",
  "provisioningKey": "$key",
  "deviceType": "generic-amd64",
  "name": "demo-pi-1",
  "dockerHost": "$device_docker_host"
}
EOF
  fi
  private_file "$device_dir/supervisor.log"
  # With the environment and node flags of supervisor/launch.ts, as a device starts it.
  SKIFF_REPORT_INTERVAL_MS=1000 \
    LD_PRELOAD=libjemalloc.so.2 MALLOC_CONF=narenas:1,tcache:false,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0 \
    setsid node --max-semi-space-size=1 "$dist/supervisor/main.js" --data-dir "$device_dir" \
    >>"$device_dir/supervisor.log" 2>&1 </dev/null &
  echo $! >"$device_dir/supervisor.pid"
  say "device supervisor started, provisioned from $device_dir/config.json (log: $device_dir/supervisor.log)"
}

wait_converged() {
  local version=$1 deadline=$((SECONDS + ${SKIFF_DEMO_TIMEOUT:-300})) line
  say "waiting for the device to run release $version"
  while :; do
    line=$(skiff devices --fleet "$fleet" --json 2>/dev/null |
      json_field 'v.map(d=>[d.runningRelease,d.updateStatus,d.error].join("|")).join(" ")' || true)
    case " $line " in *" $version|converged|"*) say "device runs release $version"; return 0 ;; esac
    if [ $SECONDS -ge $deadline ]; then
      skiff devices --fleet "$fleet" >&2 || true
      tail -20 "$device_dir/supervisor.log" >&2
      die "the device did not converge to release $version in time (supervisor log: $device_dir/supervisor.log)"
    fi
    sleep 2
  done
}

start() {
  # Engines and the registry only: the demo's API keeps its data in SQLite and runs its jobs in process.
  bash scripts/env.sh up "$env" --only engines,registry
  local envjson="$root/env.json" registry dev device port
  registry=$(json_field 'v.registry' <"$envjson")
  dev=$(json_field 'v.devDockerHost' <"$envjson")
  device=$(json_field 'v.deviceDockerHost' <"$envjson")
  port=$(json_field 'v.apiPort' <"$envjson")

  api_up "$port" "$registry"
  if ! skiff fleet show "$fleet" >/dev/null 2>&1; then
    skiff fleet create "$fleet" --device-type generic-amd64 --poll-interval 5 >/dev/null
    say "fleet $fleet created"
  fi
  # The tunnel service binds the device's tunnel key directory: the fleet allows that one host path, so the
  # release needs no operator's approval (anything more privileged would still wait for one).
  skiff fleet review "$fleet" --allow-host-path /var/lib/skiff/tunnel >/dev/null
  device_up "$device"

  say "pushing compose-templates/meter-fleet as a release of $fleet"
  local pushed version
  pushed=$(DOCKER_HOST="$dev" skiff push compose-templates/meter-fleet --fleet "$fleet" --json)
  version=$(json_field 'v.version' <<<"$pushed")
  [ -n "$version" ] || die "push did not return a release version"
  if [ "$(json_field 'v.unchanged' <<<"$pushed")" = true ]; then
    say "release $version already has this content: no new release"
  else
    say "release $version created"
  fi
  wait_converged "$version"

  echo
  echo "== Devices =="
  skiff devices --fleet "$fleet"
  echo
  echo "== Containers on the device's engine =="
  DOCKER_HOST="$device" docker ps --format 'table {{.Names}}\t{{.Status}}\t{{.Image}}' | cut -c1-150
  # The dashboard's login: a one-time code for the demo admin, new each run (it replaces the last one unused; once
  # redeemed it sets the admin's password, which a later code can set anew).
  local invite code
  invite=$(skiff user invite admin --json)
  code=$(json_field 'v.code' <<<"$invite")
  [ -n "$code" ] || die "skiff user invite admin gave no invite code"
  # The try-it lines are run as printed by test/e2e/demo.test.ts: keep each one a complete shell command.
  cat <<EOF

The local fleet runs.
  API:              $SKIFF_API_URL (registry-api on SQLite, data in $api_dir)
  Admin token:      $api_dir/admin-token
  Dashboard:        $SKIFF_API_URL/ (user admin: choose "I have an invite code", code $code, then set a password)
  Build engine:     $dev (skiff push builds there: DOCKER_HOST below)
  Device's engine:  $device
Try, from $SKIFF_REPO:
  export SKIFF_API_URL=$SKIFF_API_URL SKIFF_API_TOKEN=\$(cat $api_dir/admin-token) DOCKER_HOST=$dev
  node dist/cli/main.js devices
  node dist/cli/main.js releases $fleet
  node dist/cli/main.js push compose-templates/meter-fleet --fleet $fleet
  DOCKER_HOST=$device docker logs -f \$(DOCKER_HOST=$device docker ps -qf label=io.skiff.service=meter-reader)
Pushing unchanged content answers with the existing release; change a file under compose-templates/meter-fleet to make
a new one (pin one with: node dist/cli/main.js pin $fleet VERSION).
Logs: $api_dir/api.log, $device_dir/supervisor.log
Stop everything: SKIFF_DEMO_ENV=$env bash scripts/demo.sh down   (make demo-stop for the default demo)
EOF
}

down() {
  stop_pid "$device_dir/supervisor.pid" 15
  stop_pid "$api_dir/api.pid" 15
  bash scripts/env.sh down "$env"
}

case "${1:-}" in
  up) bash scripts/deps.sh; start ;;
  start) start ;;
  down) down ;;
  *) die "usage: scripts/demo.sh up|start|down" ;;
esac
