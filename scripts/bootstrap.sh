#!/bin/sh
# Set-up for a fresh Debian 12 machine, run by `npm start`, `npm test`, `npm run check` and `npm run qualify`:
# installs the Debian packages and npm packages huplab needs, once; later runs only check.
# (chromium: the browser test of the HTML report, `npm run report:browser`; Playwright's own
# browser download is not used.)
set -eu
say() { printf '[huplab setup] %s\n' "$*" >&2; }

DEBIAN_PACKAGES="qemu-system-x86 qemu-utils ovmf grub-efi-amd64-bin grub-common mtools dosfstools fdisk \
e2fsprogs cpio kmod binutils fakeroot zstd xdelta3 openssh-client chromium \
qemu-system-arm qemu-efi-aarch64 u-boot-qemu u-boot-tools \
gcc libc6-dev android-sdk-libsparse-utils docker-registry skopeo socat"
# (docker-registry, the reference registry, and skopeo, a standard client: the registry tests
# push to the one and read the backend's registry with the other.)
# (img2simg makes the sparse OS images the advanced update downloads; gcc builds takeover's tools,
# updater/takeover/*.c, for the host's own tests. For the arm boards they are cross-compiled:
# `sh scripts/bootstrap.sh cross`, which the advanced suites and benchmarks run, adds that
# compiler; `npm test` does without it.)
if [ "${1:-}" = cross ]; then DEBIAN_PACKAGES="$DEBIAN_PACKAGES gcc-aarch64-linux-gnu libc6-dev-arm64-cross"; fi
# The arm64 profiles (Raspberry Pi 3, Jetson): the Pi's U-Boot and GRUB's arm64 EFI modules only
# exist as arm64 packages; they hold no code for the host, only files for the device.
FOREIGN_PACKAGES="u-boot-rpi:arm64 grub-efi-arm64-bin:arm64"

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
	say "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none)); install it and retry"
	exit 1
fi

npm_packages() {
	if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
		say "installing npm packages (npm ci)"
		npm ci --no-audit --no-fund >&2
	else
		say "npm packages: up to date"
	fi
}
# `bootstrap.sh npm`: only the npm packages (the type check and the lint need nothing else).
if [ "${1:-}" = npm ]; then npm_packages; exit 0; fi

# A Debian mirror in the middle of a sync answers with index files of the wrong size, and
# `apt-get update` fails for the whole run; it passes a little later. Ask up to three times, then
# go on with the lists apt has: if a package is still missing from them, the install fails and
# says which.
apt_update() {
	for wait in 15 45 0; do
		if $1 apt-get update -q >&2; then return 0; fi
		if [ "$wait" -gt 0 ]; then say "apt-get update failed (a mirror syncing?); retrying in $wait s"; sleep "$wait"; fi
	done
	say "apt-get update failed three times; going on with the package lists apt already has"
}

# arm64: kernels, busybox and firmware of the emulated boards; armhf: the 32-bit Raspberry Pi OS.
for arch in arm64 armhf; do
	if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
		say "adding the $arch architecture to dpkg (packages for the emulated boards' OS)"
		if [ "$(id -u)" -eq 0 ]; then dpkg --add-architecture "$arch"; else sudo dpkg --add-architecture "$arch"; fi
		need_update=1
	fi
done
missing=""
for p in $DEBIAN_PACKAGES $FOREIGN_PACKAGES; do
	dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
		say "missing Debian packages:$missing; run as root or install sudo"; exit 1
	fi
	say "installing Debian packages:$missing"
	apt_update "$sudo"
	need_update=0
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing >&2
else
	say "Debian packages: all present"
fi
# The image builder asks apt for the packages that go into the device (kernel, busybox,
# dropbear, libraries); an apt that never ran `update` knows none of them.
if [ "${need_update:-0}" = 1 ] || [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep _binary-armhf_Packages)" ]; then
	say "apt package lists are empty or lack a foreign architecture: running apt-get update"
	if [ "$(id -u)" -eq 0 ]; then apt_update ""; else apt_update sudo; fi
fi

npm_packages
