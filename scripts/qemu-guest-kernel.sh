#!/bin/sh
# Fetches a Debian cloud kernel for the QEMU TCG guest of test/qemu-stream
# (issue #12 item 2) WITHOUT installing it: `apt-get install` of a kernel would
# pull initramfs-tools, udev and systemd-sysv (see README "QEMU stream ports").
# The .deb is downloaded with `apt-get download` and unpacked with `dpkg-deb -x`
# into $1 (default .cache/qemu-guest), which then holds vmlinuz and the
# virtio-net modules the test's busybox initramfs loads. Idempotent.
set -eu
dest=${1:-.cache/qemu-guest}
if [ -f "$dest/vmlinuz" ] && [ -d "$dest/modules" ]; then exit 0; fi
# The versioned package the metapackage points at (e.g. linux-image-6.1.0-57-cloud-amd64).
pkg=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -1)
if [ -z "$pkg" ]; then
  echo "qemu-guest-kernel: no linux-image-*-cloud-amd64 known to apt (run apt-get update)" >&2
  exit 1
fi
tmp=$(mktemp -d)
chmod 755 "$tmp" # apt-get download runs as _apt
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -qq "$pkg")
dpkg-deb -x "$tmp"/*.deb "$tmp/root"
mkdir -p "$dest"
cp "$tmp"/root/boot/vmlinuz-* "$dest/vmlinuz"
kdir=$(ls -d "$tmp"/root/lib/modules/* | head -1)
rm -rf "$dest/modules"
mkdir -p "$dest/modules"
# The eight modules virtio-net needs in this kernel, in insmod order.
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
  f=$(find "$kdir" -name "$m.ko*" | head -1)
  if [ -z "$f" ]; then echo "qemu-guest-kernel: $m not in $pkg" >&2; exit 1; fi
  case "$f" in
    *.xz) xz -dc "$f" >"$dest/modules/$m.ko" ;;
    *.zst) zstd -qdc "$f" >"$dest/modules/$m.ko" ;;
    *) cp "$f" "$dest/modules/$m.ko" ;;
  esac
done
echo "$pkg" >"$dest/PACKAGE"
echo "qemu-guest-kernel: $pkg unpacked into $dest"
