# Shared by scripts/demo.sh and scripts/e2e-terraform.sh (sourced, bash).
# The caller sets PROBE_WIDTH (label column width, default 40) and reads FAILED
# (set to 1 by any probe whose result was not the expected one); serve() adds
# the server pids to SERVER_PIDS for the caller's cleanup to kill.

# probe FROM_NS ADDR PORT EXPECT LABEL: one TCP request/response; EXPECT is allowed|blocked.
probe() {
  local ns="$1" addr="$2" port="$3" expect="$4" label="$5" got=blocked
  if echo ping | ip netns exec "$ns" timeout 3 socat -T1 - "TCP:$addr:$port,connect-timeout=1" 2>/dev/null |
    grep -q pong; then
    got=allowed
  fi
  if [ "$got" = "$expect" ]; then
    printf "  %-${PROBE_WIDTH:-40}s %-8s (ok)\n" "$label" "$got"
  else
    printf "  %-${PROBE_WIDTH:-40}s %-8s (EXPECTED %s)\n" "$label" "$got" "$expect"
    FAILED=1
  fi
}

# serve NS PORT...: answers "pong" to every connection on each port.
serve() {
  local ns="$1"
  shift
  for port in "$@"; do
    ip netns exec "$ns" socat "TCP-LISTEN:$port,fork,reuseaddr" SYSTEM:'read line; echo pong' &
    SERVER_PIDS+=("$!")
  done
}
