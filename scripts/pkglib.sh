# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Helpers of scripts/package and scripts/chroot-test (Debian packages); sourced
# after scripts/deps.sh.

# The Debian mirror this machine's apt already uses (the first URIs of a
# "debian" archive in /etc/apt/sources.list{,.d/}).
vr_debian_mirror() {
	local m
	m=$(grep -hoE '(URIs:|^deb)[[:space:]]+[^[:space:]]*/debian/?([[:space:]]|$)' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
		2>/dev/null | awk '{print $2; exit}')
	echo "${m:-http://deb.debian.org/debian}"
}

# apt-get update; an index that fails to download (a mirror in sync) is a warning:
# the install that needs it fails next, and says what is missing.
vr_apt_update() {
	local log
	log=$(apt-get update -q 2>&1) && return 0
	grep -E '^(E|W):' <<<"$log" | head -3 >&2
	vr_log "warning: apt-get update reported errors (above); going on with the indexes apt has"
}

# Install host packages (build machine) that are missing; $@ are package names,
# arch-qualified as apt takes them.
vr_apt_host() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	((${#missing[@]})) || return 0
	vr_log "installing Debian packages: ${missing[*]}"
	vr_apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
		>/dev/null || vr_die "apt-get install ${missing[*]} failed"
}

# Copy the source tree as a fresh clone would have it (tracked files and new
# files git does not ignore, as they are in the work tree) to $2.
vr_export_source() {
	local top=$1 dst=$2
	rm -rf "$dst" && mkdir -p "$dst"
	(cd "$top" && git ls-files -z -c -o --exclude-standard |
		tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$dst" ||
		vr_die "copying the source tree to $dst failed"
}

# The version in debian/changelog.
vr_deb_version() {
	dpkg-parsechangelog -l "$1/debian/changelog" -S Version
}
