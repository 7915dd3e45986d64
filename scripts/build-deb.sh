#!/usr/bin/env bash
# Builds dist-deb/eniwall_<version>_<arch>.deb from this checkout's build
# (make deb: dist/ and build/Release/eniwall.node must be built). Layout:
#   /usr/lib/eniwall/        package.json, bin/, dist/src (JS), build/Release/eniwall.node,
#                            node_modules (production dependencies only)
#   /usr/bin/eniwall, /usr/lib/cni/eniwall-cni   wrappers running /usr/bin/node
#   /lib/systemd/system/eniwall.service, /usr/lib/tmpfiles.d/eniwall.conf
#   /etc/eniwall/eniwall.conf (conffile: persist-taps = on, every other line commented out)
#   /usr/share/man/man1/eniwall*.1.gz, /usr/share/bash-completion/completions/eniwall
# Depends: the node major the native modules were built for (better-sqlite3 is
# not N-API), the shared libraries dpkg-shlibdeps finds, iproute2, util-linux
# (nsenter), passwd (groupadd).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${DEB_OUT:-$ROOT/dist-deb}
# DEB_VERSION overrides package.json's version (the package test builds an "upgrade" this way).
VERSION=${DEB_VERSION:-$(node -p "require('./package.json').version")}
ARCH=$(dpkg --print-architecture)
NODE_MAJOR=$(node -p "process.versions.node.split('.')[0]")
ADDON=build/Release/eniwall.node
SQLITE=node_modules/better-sqlite3/build/Release/better_sqlite3.node
for f in "$ADDON" "$SQLITE" dist/src/cli/main.js dist/src/cli/docgen.js; do
  [ -f "$f" ] || { echo "build-deb: $f is missing; run make build first" >&2; exit 1; }
done

STAGE=$(mktemp -d /tmp/eniwall-deb.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
PKG=$STAGE/root
LIB=$PKG/usr/lib/eniwall
install -d "$LIB/bin" "$LIB/build/Release" "$LIB/node_modules" "$PKG/usr/bin" "$PKG/usr/lib/cni" \
  "$PKG/lib/systemd/system" "$PKG/usr/lib/tmpfiles.d" "$PKG/etc/eniwall" \
  "$PKG/usr/share/man/man1" "$PKG/usr/share/bash-completion/completions" \
  "$PKG/usr/share/doc/eniwall" "$PKG/DEBIAN"

# The program: compiled sources only (no tests, benches, maps or declarations).
install -m 0644 package.json "$LIB/package.json"
# `eniwall --version` reads it: the package's own version.
node -e 'const f=process.argv[1],p=require(f);p.version=process.argv[2];require("fs").writeFileSync(f,JSON.stringify(p,null,2)+"\n")' \
  "$LIB/package.json" "$VERSION"
install -m 0755 bin/eniwall bin/eniwall-cni "$LIB/bin/"
(cd dist && find src -name '*.js' -exec install -D -m 0644 {} "$LIB/dist/{}" \;)
install -m 0644 "$ADDON" "$LIB/build/Release/eniwall.node"
strip --strip-unneeded "$LIB/build/Release/eniwall.node"

# Production dependencies (npm's own list, from the installed tree), without build leftovers.
npm ls --omit=dev --all --parseable 2>/dev/null | sed "s|^$ROOT/||" | grep '^node_modules/' | sort -u |
  while read -r dir; do
    mkdir -p "$LIB/$(dirname "$dir")"
    cp -a "$dir" "$LIB/$(dirname "$dir")/"
  done
BS=$LIB/node_modules/better-sqlite3
rm -rf "$BS/deps" "$BS/src" "$BS/build"
install -D -m 0644 "$SQLITE" "$BS/build/Release/better_sqlite3.node"
strip --strip-unneeded "$BS/build/Release/better_sqlite3.node"
find "$LIB/node_modules" -name '*.md' -delete
find "$LIB/node_modules" -name '.bin' -type d -prune -exec rm -rf {} +

# Entry points: absolute node, so a runtime's bare PATH still works.
for name in eniwall:/usr/bin/eniwall eniwall-cni:/usr/lib/cni/eniwall-cni; do
  printf '#!/bin/sh\nexec /usr/bin/node /usr/lib/eniwall/bin/%s "$@"\n' "${name%%:*}" > "$PKG${name#*:}"
  chmod 0755 "$PKG${name#*:}"
done

install -m 0644 packaging/systemd/eniwall.service "$PKG/lib/systemd/system/eniwall.service"
install -m 0644 packaging/systemd/eniwall.tmpfiles "$PKG/usr/lib/tmpfiles.d/eniwall.conf"
install -D -m 0644 packaging/systemd/strict.conf "$PKG/usr/share/doc/eniwall/examples/strict.conf"
install -m 0644 packaging/eniwall.conf "$PKG/etc/eniwall/eniwall.conf"

# Man pages and completion from the command table (src/cli/docgen.ts).
node dist/src/cli/docgen.js "$STAGE/doc"
for page in "$STAGE"/doc/man1/*.1; do gzip -9n < "$page" > "$PKG/usr/share/man/man1/$(basename "$page").gz"; done
install -m 0644 "$STAGE/doc/bash-completion/eniwall" "$PKG/usr/share/bash-completion/completions/eniwall"

cat > "$PKG/usr/share/doc/eniwall/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: eniwall

Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
printf 'eniwall (%s) unstable; urgency=medium\n\n  * Built from %s.\n\n -- eniwall maintainers <eniwall@localhost>  %s\n' \
  "$VERSION" "$(git rev-parse --short HEAD 2>/dev/null || echo a checkout)" "$(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(date +%s)}")" |
  gzip -9n > "$PKG/usr/share/doc/eniwall/changelog.Debian.gz"

# Shared-library dependencies of both native modules.
mkdir -p "$STAGE/shlibs/debian"
printf 'Source: eniwall\n\nPackage: eniwall\nArchitecture: any\n' > "$STAGE/shlibs/debian/control"
SHLIBS=$(cd "$STAGE/shlibs" && dpkg-shlibdeps -O --warnings=0 \
  -e"$LIB/build/Release/eniwall.node" -e"$BS/build/Release/better_sqlite3.node" | sed -n 's/^shlibs:Depends=//p')
[ -n "$SHLIBS" ] || { echo 'build-deb: dpkg-shlibdeps found no dependencies' >&2; exit 1; }

install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$PKG/DEBIAN/"
echo /etc/eniwall/eniwall.conf > "$PKG/DEBIAN/conffiles"
cat > "$PKG/DEBIAN/control" <<CONTROL
Package: eniwall
Version: $VERSION
Architecture: $ARCH
Maintainer: eniwall maintainers <eniwall@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
Depends: nodejs (>= $NODE_MAJOR), nodejs (<< $((NODE_MAJOR + 1))), $SHLIBS, iproute2, util-linux, passwd
Recommends: systemd, bash-completion
Suggests: containernetworking-plugins, awscli
Section: net
Priority: optional
Description: userspace virtual firewall enforcing AWS-style security groups on TAP devices
 eniwall enforces AWS Security Groups and network ACLs on TAP devices, one
 TAP per simulated ENI, with a C dataplane behind a Node.js control plane
 (daemon, CLI, EC2 query endpoint, CNI plugin) and a SQLite store.
CONTROL

mkdir -p "$OUT"
DEB=$OUT/eniwall_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group --build "$PKG" "$DEB.tmp" >/dev/null
mv "$DEB.tmp" "$DEB"
echo "$DEB"
