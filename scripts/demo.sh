#!/usr/bin/env bash
# eniwall demo (`make demo`): a web tier and a db tier behind security groups,
# with real TCP traffic between network namespaces; rules changed through the
# CLI and through the EC2 endpoint with the AWS CLI.
#
# Runs as root. Starts its own daemon on a temporary state directory and
# socket, creates namespaces named ewdemo-*-$$, and removes all of it on exit
# (also on failure or Ctrl-C). Exits non-zero if any flow does not behave as
# the rules say it must.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TMP="$(mktemp -d /tmp/eniwall-demo.XXXXXX)"
export ENIWALL_SOCKET="$TMP/eniwall.sock"
NS_WEB="ewdemo-web-$$"
NS_DB="ewdemo-db-$$"
NS_OPS="ewdemo-ops-$$"
NS_APP="ewdemo-app-$$"
DAEMON_PID=""
SERVER_PIDS=()
FAILED=0

eniwall() { node "$ROOT/bin/eniwall" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ eniwall %s\n' "$*"; eniwall "$@"; }

cleanup() {
  set +e
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  if [ -n "$DAEMON_PID" ]; then
    kill -TERM "$DAEMON_PID" 2>/dev/null
    wait "$DAEMON_PID" 2>/dev/null
  fi
  for ns in "$NS_WEB" "$NS_DB" "$NS_OPS" "$NS_APP"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: must run as root (it creates TAP devices and network namespaces)" >&2
  exit 1
fi

PROBE_WIDTH=34
# shellcheck source=lib/probe.sh
source "$ROOT/scripts/lib/probe.sh"

# A free loopback port for the EC2 endpoint.
EC2_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

say "start the daemon (state in $TMP, EC2 endpoint on 127.0.0.1:$EC2_PORT)"
node "$ROOT/bin/eniwall" daemon --state-dir "$TMP/state" --socket "$ENIWALL_SOCKET" \
  --ec2-listen "127.0.0.1:$EC2_PORT" &
DAEMON_PID=$!
for _ in $(seq 50); do eniwall status >/dev/null 2>&1 && break; sleep 0.2; done
run status

say "security groups: web, db (PostgreSQL from web only), ops"
run sg create --name web --description "web tier"
run sg create --name db --description "database tier"
run sg create --name ops --description "operators"
run sg authorize db --ingress --protocol tcp --port 5432 --source-group web --description "postgres from web"
# No egress rules on db at all: its replies can only leave as tracked return traffic.
DB_EGRESS="$(eniwall sg rules db --json | node -e '
  const r = JSON.parse(require("fs").readFileSync(0, "utf8")).SecurityGroupRules;
  console.log(r.filter((x) => x.IsEgress).map((x) => x.SecurityGroupRuleId).join(" "));')"
run sg revoke db --egress --rule-id $DB_EGRESS
run sg authorize web --ingress --protocol tcp --port 8080 --cidr 172.31.0.0/16
run sg rules db

say "three ENIs, each a TAP whose other side lives in its own namespace"
for ns in "$NS_WEB" "$NS_DB" "$NS_OPS"; do ip netns add "$ns"; done
WEB="$(run eni create --tap "ewd-web-$$" --ip 172.31.0.10 --groups web --netns "$NS_WEB" | tail -1)"
DB="$(run eni create --tap "ewd-db-$$" --ip 172.31.0.20 --groups db --netns "$NS_DB" | tail -1)"
OPS="$(run eni create --tap "ewd-ops-$$" --ip 172.31.0.30 --groups ops --netns "$NS_OPS" | tail -1)"
echo "web=$WEB db=$DB ops=$OPS"
run eni describe
serve "$NS_DB" 5432
serve "$NS_WEB" 8080
sleep 0.5

say "traffic"
probe "$NS_WEB" 172.31.0.20 5432 allowed "web -> db:5432 (source-group rule)"
probe "$NS_OPS" 172.31.0.20 5432 blocked "ops -> db:5432 (no rule)"
echo "  the reply db -> web passed with no egress rule on db: stateful return traffic"
probe "$NS_DB" 172.31.0.10 8080 blocked "db -> web:8080 (db has no egress)"
probe "$NS_OPS" 172.31.0.10 8080 allowed "ops -> web:8080 (CIDR rule)"

say "a rule change takes effect when the command returns"
OPS_RULE="$(run sg authorize db --ingress --protocol tcp --port 5432 --source-group ops | tail -1)"
probe "$NS_OPS" 172.31.0.20 5432 allowed "ops -> db:5432 after authorize"
run sg revoke db --ingress --rule-id "$OPS_RULE"
probe "$NS_OPS" 172.31.0.20 5432 blocked "ops -> db:5432 after revoke"

say "why: check asks the rules directly"
run check --eni "$DB" --direction ingress --protocol tcp --peer 172.31.0.10 --port 5432
run check --eni "$DB" --direction ingress --protocol tcp --peer 172.31.0.30 --port 5432

say "network ACLs: stateless allow/deny at the subnet boundary"
# A second subnet of the default VPC with one ENI; traffic to it is routed by
# the subnet router and crosses both subnets' NACLs (the default ones allow all).
APP_SUBNET="$(run subnet create --vpc vpc-00000000000000001 --cidr 172.31.16.0/20 | tail -1)"
ip netns add "$NS_APP"
APP="$(run eni create --tap "ewd-app-$$" --ip 172.31.16.10 --groups web --subnet "$APP_SUBNET" --netns "$NS_APP" | tail -1)"
serve "$NS_APP" 8080
sleep 0.5
probe "$NS_OPS" 172.31.16.10 8080 allowed "ops -> app:8080 (routed, default NACL)"
ACL="$(run nacl create --vpc vpc-00000000000000001 | tail -1)"
run nacl entry add --nacl "$ACL" --rule-number 90 --protocol tcp --port 8080 --cidr 172.31.0.30/32 --action deny --ingress
run nacl entry add --nacl "$ACL" --rule-number 100 --protocol all --cidr 0.0.0.0/0 --action allow --ingress
run nacl entry add --nacl "$ACL" --rule-number 100 --protocol all --cidr 0.0.0.0/0 --action allow --egress
run nacl associate --subnet "$APP_SUBNET" --nacl "$ACL"
probe "$NS_OPS" 172.31.16.10 8080 blocked "ops -> app:8080 (NACL rule 90 deny)"
probe "$NS_WEB" 172.31.16.10 8080 allowed "web -> app:8080 (NACL rule 100 allow)"
run nacl describe "$ACL"
run check --eni "$APP" --direction ingress --protocol tcp --peer 172.31.0.30 --port 8080

say "the EC2 API: the AWS CLI (Debian's awscli) changes what is enforced"
CRED="$(eniwall credentials create --name demo --json)"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
AWS_ACCESS_KEY_ID="$(node -e 'console.log(JSON.parse(process.argv[1]).AccessKeyId)' "$CRED")"
AWS_SECRET_ACCESS_KEY="$(node -e 'console.log(JSON.parse(process.argv[1]).SecretAccessKey)' "$CRED")"
echo "  credential $AWS_ACCESS_KEY_ID (eniwall credentials create --name demo)"
aws() {
  printf '$ aws ec2 %s\n' "${*:2}" >&2
  AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true HOME="$TMP" \
    /usr/bin/aws --endpoint-url "http://127.0.0.1:$EC2_PORT" "$@"
}
DB_SG="$(aws ec2 describe-security-groups --filters Name=group-name,Values=db \
  --query 'SecurityGroups[0].GroupId' --output text)"
OPS_SG="$(aws ec2 describe-security-groups --filters Name=group-name,Values=ops \
  --query 'SecurityGroups[0].GroupId' --output text)"
probe "$NS_OPS" 172.31.0.20 5432 blocked "ops -> db:5432 (before)"
EC2_RULE="$(aws ec2 authorize-security-group-ingress --group-id "$DB_SG" \
  --ip-permissions "IpProtocol=tcp,FromPort=5432,ToPort=5432,UserIdGroupPairs=[{GroupId=$OPS_SG}]" \
  --query 'SecurityGroupRules[0].SecurityGroupRuleId' --output text)"
probe "$NS_OPS" 172.31.0.20 5432 allowed "ops -> db:5432 (aws authorize)"
aws ec2 revoke-security-group-ingress --group-id "$DB_SG" --security-group-rule-ids "$EC2_RULE" \
  --query Return --output text
probe "$NS_OPS" 172.31.0.20 5432 blocked "ops -> db:5432 (aws revoke)"

say "counters and drops per ENI"
run stats
say "tracked connections"
run flows

say "audit log (who changed what)"
run audit --limit 5

say "findings: configuration checks over the state"
run findings

if [ "$FAILED" -ne 0 ]; then
  say "demo FAILED: some flow did not behave as the rules say"
  exit 1
fi
say "demo OK; cleaning up"
