#!/bin/sh
# A real QEMU (TCG) guest on an eniwall stream port (issue #12 item 2), C level:
# test/stream_listen runs one ew_stream_port; two guests boot one after the
# other (a disconnect + reconnect) with `-netdev stream,server=off` on it. Each
# guest's init brings eth0 up with no IP, so the only traffic is its kernel's
# own IPv6 DAD/MLD/RS multicasts. Asserts: both connections were taken on the
# same port, each delivered IPv6 frames through the framing, no bad length,
# and each guest's eth0 received the broadcasts the port sent it (port -> guest).
# Needs qemu-system-x86, busybox-static and the kernel from
# scripts/qemu-guest-kernel.sh (make qemu-guest). Usage: qemu_stream.sh LISTENER GUESTDIR
set -eu
listener=$1
guest=$2
work=$(mktemp -d /tmp/ew-qemu-XXXXXX)
lpid=
cleanup() { [ -n "$lpid" ] && kill "$lpid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# busybox initramfs: busybox, the eight virtio-net modules, an init script.
mkdir -p "$work/root/bin" "$work/root/modules"
cp /bin/busybox "$work/root/bin/busybox"
cp "$guest"/modules/*.ko "$work/root/modules/"
cat >"$work/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys && mount -t proc proc /proc && mount -t sysfs sys /sys
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
  insmod /modules/$m.ko
done
ip link set eth0 up
echo GUEST-ETH0-UP
sleep 2
echo "GUEST-RX $(cat /sys/class/net/eth0/statistics/rx_packets)"
poweroff -f
INIT
chmod +x "$work/root/init"
(cd "$work/root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$work/initrd.gz")

sock="$work/eni.sock"
"$listener" "$sock" 120 >"$work/listener.out" &
lpid=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done

boot() {
  timeout 60 qemu-system-x86_64 -nodefaults -nic none -accel tcg -m 256 -smp 1 -display none \
    -serial stdio -no-reboot -kernel "$guest/vmlinuz" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 quiet panic=-1" \
    -netdev "stream,id=n0,server=off,addr.type=unix,addr.path=$sock" \
    -device virtio-net-pci,netdev=n0 >"$work/guest$1.out" 2>&1
  grep -q GUEST-ETH0-UP "$work/guest$1.out" || { cat "$work/guest$1.out"; echo "guest $1 did not bring eth0 up"; exit 1; }
  rx=$(sed -n 's/^GUEST-RX \([0-9]*\).*/\1/p' "$work/guest$1.out")
  echo "guest $1: eth0 rx_packets=$rx"
  [ -n "$rx" ] && [ "$rx" -gt 0 ] || { echo "FAIL: guest $1 received nothing from the port"; exit 1; }
}
t0=$(date +%s.%N)
boot 1
boot 2
t1=$(date +%s.%N)
sleep 0.3
kill -TERM "$lpid"
wait "$lpid" || true
lpid=
cat "$work/listener.out"
out=$(cat "$work/listener.out")
fail=0
echo "$out" | grep -q 'accepts=2 ' || { echo "FAIL: want 2 connections on the one port"; fail=1; }
echo "$out" | grep -q 'rx_bad_len=0' || { echo "FAIL: bad lengths seen"; fail=1; }
for c in 1 2; do
  n=$(echo "$out" | sed -n "s/^conn $c ipv6=\([0-9]*\)$/\1/p")
  [ -n "$n" ] && [ "$n" -gt 0 ] || { echo "FAIL: guest $c delivered no IPv6 frames"; fail=1; }
done
echo "two boots: $(echo "$t1 - $t0" | bc 2>/dev/null || echo "?") s"
[ $fail = 0 ] && echo "qemu_stream: PASS"
exit $fail
