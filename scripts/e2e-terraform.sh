#!/usr/bin/env bash
# `make e2e-terraform`: the real Terraform AWS provider against eniwall's EC2
# endpoint. Starts a daemon with --ec2-listen, creates a credential, runs
# `terraform init / apply / plan / apply -var v2=true / plan / destroy` of
# test/e2e/terraform/main.tf, checks traffic between namespaces after each
# apply, checks that `plan` finds nothing to change (no perpetual diff), and
# removes everything on exit (also on failure or Ctrl-C).
#
# Optional: needs terraform (TERRAFORM, default from PATH) and the AWS provider
# 5.100.0 in a filesystem mirror (TF_PLUGIN_MIRROR, default /opt/tf-plugins);
# registry.terraform.io is not reachable from here. Without them it says so
# and exits 0. Runs as root (TAPs, namespaces).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TERRAFORM="${TERRAFORM:-$(command -v terraform || true)}"
MIRROR="${TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
PROVIDER_DIR="$MIRROR/registry.terraform.io/hashicorp/aws/5.100.0"

if [ -z "$TERRAFORM" ] || [ ! -x "$TERRAFORM" ]; then
  echo "e2e-terraform: SKIPPED — terraform is not installed (set TERRAFORM=/path/to/terraform)."
  echo "  The recorded replay (test/ec2-terraform-replay.test.ts, part of make test) covers the same calls."
  exit 0
fi
if [ ! -d "$PROVIDER_DIR" ]; then
  echo "e2e-terraform: SKIPPED — no hashicorp/aws 5.100.0 provider in $MIRROR (set TF_PLUGIN_MIRROR)."
  echo "  The recorded replay (test/ec2-terraform-replay.test.ts, part of make test) covers the same calls."
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "e2e-terraform: must run as root (it creates TAP devices and network namespaces)" >&2
  exit 1
fi

TMP="$(mktemp -d /tmp/eniwall-e2e-tf.XXXXXX)"
export ENIWALL_SOCKET="$TMP/eniwall.sock"
NS_WEB="ewtfw-$$"
NS_CLI="ewtfc-$$"
TAP_WEB="tfw$$"
TAP_CLI="tfc$$"
DAEMON_PID=""
SERVER_PIDS=()
FAILED=0
APPLIED=0

eniwall() { node "$ROOT/bin/eniwall" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
  set +e
  if [ "$APPLIED" = 1 ]; then
    # A failure midway: remove what Terraform created, so the daemon stops cleanly.
    (cd "$TMP/tf" && tf destroy -auto-approve -var v2=true >/dev/null 2>&1)
  fi
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  if [ -n "$DAEMON_PID" ]; then
    kill -TERM "$DAEMON_PID" 2>/dev/null
    wait "$DAEMON_PID" 2>/dev/null
  fi
  for ns in "$NS_WEB" "$NS_CLI"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();})'; }

PROBE_WIDTH=40
# shellcheck source=lib/probe.sh
source "$ROOT/scripts/lib/probe.sh"

PORT="$(free_port)"
say "daemon with --ec2-listen 127.0.0.1:$PORT (state in $TMP)"
node "$ROOT/bin/eniwall" daemon --state-dir "$TMP/state" --socket "$ENIWALL_SOCKET" \
  --ec2-listen "127.0.0.1:$PORT" 2>"$TMP/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 75); do eniwall status >/dev/null 2>&1 && break; sleep 0.2; done
eniwall status >/dev/null

CRED="$(eniwall credentials create --name terraform-e2e --json)"
AKID="$(node -e 'console.log(JSON.parse(process.argv[1]).AccessKeyId)' "$CRED")"
SECRET="$(node -e 'console.log(JSON.parse(process.argv[1]).SecretAccessKey)' "$CRED")"
echo "credential $AKID"

ip netns add "$NS_WEB"
ip netns add "$NS_CLI"
for ns in "$NS_WEB" "$NS_CLI"; do ip -n "$ns" link set lo up; done

mkdir -p "$TMP/tf"
cp "$ROOT/test/e2e/terraform/main.tf" "$TMP/tf/"
cat >"$TMP/cli.tfrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
}
disable_checkpoint = true
EOF
export TF_CLI_CONFIG_FILE="$TMP/cli.tfrc" TF_IN_AUTOMATION=1 TF_INPUT=0
export TF_VAR_endpoint="http://127.0.0.1:$PORT" TF_VAR_access_key="$AKID" TF_VAR_secret_key="$SECRET"
export TF_VAR_web_tap="$TAP_WEB" TF_VAR_web_netns="$NS_WEB" TF_VAR_client_tap="$TAP_CLI" TF_VAR_client_netns="$NS_CLI"
tf() { "$TERRAFORM" "$@" -no-color; }

# tf_step ARGS...: a terraform command that must succeed; prints its summary lines.
tf_step() {
  if ! tf "$@" >"$TMP/step.out" 2>&1; then
    echo "terraform $* FAILED:"
    sed 's/^/    /' "$TMP/step.out" | tail -40
    echo "daemon log (last lines):"
    tail -20 "$TMP/daemon.log"
    exit 1
  fi
  grep -E 'complete after|^(Apply|Destroy) complete' "$TMP/step.out" || true
}

# plan_is_empty [VARS...]: `terraform plan -detailed-exitcode` exits 0 only when nothing would change.
plan_is_empty() {
  local rc=0
  tf plan -detailed-exitcode "$@" >"$TMP/plan.out" 2>&1 || rc=$?
  if [ "$rc" = 0 ]; then
    echo "  plan: no changes (ok)"
  else
    echo "  plan: exit $rc (EXPECTED 0, no changes):"
    sed 's/^/    /' "$TMP/plan.out" | tail -40
    FAILED=1
  fi
}

cd "$TMP/tf"
say "terraform $("$TERRAFORM" version | head -1 | cut -d' ' -f2) init (provider from $MIRROR)"
tf_step init
say "terraform apply"
APPLIED=1
tf_step apply -auto-approve

serve "$NS_WEB" 8080 8082 8083 8092 22
serve "$NS_CLI" 7000 7001 22
sleep 0.3
WEB=10.0.1.10
CLI=10.0.1.20
say "traffic after apply"
probe "$NS_CLI" $WEB 8080 allowed "client -> web:8080 (source group)"
probe "$NS_CLI" $WEB 8082 allowed "client -> web:8082 (10.0.0.0/16)"
probe "$NS_CLI" $WEB 8083 blocked "client -> web:8083 (prefix list)"
probe "$NS_CLI" $WEB 22 blocked "client -> web:22"
probe "$NS_WEB" $CLI 7000 allowed "web -> client:7000 (source group)"
probe "$NS_WEB" $CLI 7001 blocked "web -> client:7001"

say "terraform plan (must be empty)"
plan_is_empty

say "terraform apply -var v2=true (rule port, tag, prefix-list entries, ENI groups)"
tf_step apply -auto-approve -var v2=true
say "traffic after the update"
probe "$NS_CLI" $WEB 8082 blocked "client -> web:8082 (moved to 8092)"
probe "$NS_CLI" $WEB 8092 allowed "client -> web:8092"
probe "$NS_CLI" $WEB 8083 allowed "client -> web:8083 (prefix list)"
probe "$NS_CLI" $WEB 22 allowed "client -> web:22 (web ENI joined client)"
probe "$NS_WEB" $CLI 7000 blocked "web -> client:7000 (moved to 7001)"
probe "$NS_WEB" $CLI 7001 allowed "web -> client:7001"

say "terraform plan -var v2=true (must be empty)"
plan_is_empty -var v2=true

say "terraform destroy"
tf_step destroy -auto-approve -var v2=true
APPLIED=0
LEFT="$(eniwall eni describe --json | node -e 'console.log(JSON.parse(require("fs").readFileSync(0,"utf8")).NetworkInterfaces.length)')"
if [ "$LEFT" = 0 ]; then echo "  no ENIs left (ok)"; else
  echo "  $LEFT ENIs left (EXPECTED 0)"
  FAILED=1
fi

# Terraform runs 10 operations in parallel: the daemon must not have logged an error meanwhile.
ERRORS="$(grep -c '"level":[56]0' "$TMP/daemon.log" || true)"
if [ "$ERRORS" = 0 ]; then echo "  daemon logged no errors (ok)"; else
  echo "  daemon logged $ERRORS errors (EXPECTED 0):"
  grep '"level":[56]0' "$TMP/daemon.log" | cut -c1-300 | sort | uniq -c | head -5
  FAILED=1
fi

if [ "$FAILED" != 0 ]; then
  say "e2e-terraform FAILED (daemon log: last lines)"
  tail -20 "$TMP/daemon.log" || true
  exit 1
fi
say "e2e-terraform passed"
