# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Installs what vpcroute needs to build and to test, on Debian 12. Sourced by
# scripts/check and scripts/lab; safe to re-run: it installs only what is missing.

VR_APT_PACKAGES=(
	build-essential autoconf automake libtool pkg-config
	openvpn nftables iproute2 iptables iputils-ping openssl systemd
	curl procps lcov zsh
	# the lab's DNS server (tests/lab/test_agent_dns.py); -base: the binary without
	# the dnsmasq package's host-wide service
	dnsmasq-base
	clang libclang-rt-14-dev clang-format man-db groff-base
	python3 python3-pip python3-venv git ca-certificates
	bird2 # the lab's BGP daemons (aws.routes "route-server"), never a build dependency
	# the IPsec lab's VM (scripts/ipsec-vm: virtme-ng from tests/requirements.txt
	# boots Debian's kernel, fetched there with apt-get download, over this userspace)
	qemu-system-x86 busybox-static kmod
	# the IKE daemon that lab runs (one per gateway, private configuration):
	# libreswan, seed 003's; Debian's strongswan-charon conflicts with it
	libreswan libnss3-tools
)

# --- the libraries vpcroute builds against: debian/control's Build-Depends, the one
# list (scripts/chroot-test proves it on a fresh Debian 12). Versions, architecture
# qualifiers and build profiles dropped; debhelper-compat is the debhelper package.
vr_build_depends() {
	awk 'f && /^[^ \t#]/ {exit} /^Build-Depends:/ {f=1; sub(/^Build-Depends:/, "")} f && !/^#/' "$1" |
		tr ',' '\n' | sed -E 's/[|(<[].*//; s/:[a-z]+//; s/[[:space:]]//g; s/^debhelper-compat$/debhelper/' |
		grep -v '^$'
}
mapfile -t -O "${#VR_APT_PACKAGES[@]}" VR_APT_PACKAGES < \
	<(vr_build_depends "$(dirname "${BASH_SOURCE[0]}")/../debian/control")
# ---

vr_log() { printf '==> %s\n' "$*" >&2; }
vr_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

vr_need_root() {
	[[ $(id -u) == 0 ]] || vr_die "$1 needs root (apt-get, network namespaces): run it with sudo"
}

vr_install_apt() {
	local missing=() p
	for p in "${VR_APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	if ! command -v go >/dev/null && [[ ! -x /usr/local/go/bin/go ]]; then
		missing+=(golang-go)
	fi
	((${#missing[@]})) || return 0
	vr_log "installing Debian packages: ${missing[*]}"
	apt-get update -q >/dev/null || vr_die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
		>/dev/null || vr_die "apt-get install ${missing[*]} failed"
}

# Python for the lab: the python3 on PATH if pip may install into it, else a venv.
vr_python() {
	local top=$1 req=$1/tests/requirements.txt
	VR_PY=python3
	if $VR_PY -c 'import moto, boto3, pytest, flask' 2>/dev/null &&
		$VR_PY -m pip install -q --disable-pip-version-check -r "$req" >/dev/null 2>&1; then
		return 0
	fi
	if $VR_PY -m pip install -q --disable-pip-version-check -r "$req" >/dev/null 2>&1; then
		return 0
	fi
	vr_log "installing Python test packages into $top/.venv"
	[[ -x $top/.venv/bin/python3 ]] || python3 -m venv "$top/.venv" ||
		vr_die "python3 -m venv failed"
	VR_PY=$top/.venv/bin/python3
	$VR_PY -m pip install -q --disable-pip-version-check -r "$req" ||
		vr_die "pip install -r $req failed"
}

# amazon-ec2-metadata-mock, pinned by tests/tools/aemm/go.mod and go.sum.
vr_metadata_mock() {
	local top=$1 bin=$1/tests/tools/bin/ec2-metadata-mock go=go
	command -v go >/dev/null || go=/usr/local/go/bin/go
	if [[ -x $bin && $bin -nt $top/tests/tools/aemm/go.mod ]]; then
		return 0
	fi
	vr_log "building amazon-ec2-metadata-mock (Go module, pinned in tests/tools/aemm)"
	(cd "$top/tests/tools/aemm" &&
		GOFLAGS=-mod=readonly "$go" build -o "$bin" github.com/aws/amazon-ec2-metadata-mock/cmd) ||
		vr_die "building the metadata mock failed"
}

# promtool (the metrics tests check the agent's output with it), from Debian's
# prometheus package, unpacked into tests/tools/bin: the package itself is not
# installed, so no Prometheus service, user or data directory comes with it.
vr_promtool() {
	local top=$1 bin=$1/tests/tools/bin/promtool tmp
	[[ -x $bin ]] && return 0
	vr_log "unpacking promtool from Debian's prometheus package into tests/tools/bin"
	tmp=$(mktemp -d)
	if ! (cd "$tmp" && { apt-get download -q prometheus >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && apt-get download -q prometheus >/dev/null 2>&1; }; }); then
		rm -rf "$tmp"
		vr_die "apt-get download prometheus failed"
	fi
	if ! { dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x" && mkdir -p "${bin%/*}" &&
		install -m 0755 "$tmp/x/usr/bin/promtool" "$bin"; }; then
		rm -rf "$tmp"
		vr_die "unpacking promtool from the prometheus package failed"
	fi
	rm -rf "$tmp"
}

# strongSwan for the IPsec VM lab (tests/lab/vrlab/strongswan.py runs charon and
# swanctl from it): Debian's packages unpacked into .build/strongswan/root, never
# installed (strongswan-libcharon conflicts with libreswan, which the lab also
# runs). Fetched once; remove .build/strongswan to fetch the current ones again.
VR_STRONGSWAN_PACKAGES=(libstrongswan strongswan-libcharon strongswan-charon strongswan-swanctl)
vr_strongswan() {
	local top=$1 dir=$1/.build/strongswan tmp deb
	[[ -x $dir/root/usr/lib/ipsec/charon && -x $dir/root/usr/sbin/swanctl ]] && return 0
	vr_log "unpacking strongSwan (${VR_STRONGSWAN_PACKAGES[*]}) into ${dir#"$top"/}"
	tmp=$(mktemp -d)
	if ! (cd "$tmp" && { apt-get download -q "${VR_STRONGSWAN_PACKAGES[@]}" >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && apt-get download -q "${VR_STRONGSWAN_PACKAGES[@]}" >/dev/null 2>&1; }; }); then
		rm -rf "$tmp"
		vr_die "apt-get download ${VR_STRONGSWAN_PACKAGES[*]} failed"
	fi
	rm -rf "$dir" && mkdir -p "$dir"
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$dir/root" || { rm -rf "$tmp" "$dir"; vr_die "dpkg-deb -x $deb failed"; }
		printf '%s\n' "${deb##*/}" >>"$dir/packages"
	done
	rm -rf "$tmp"
}

# Configure and build in a VPATH directory; $3... are configure arguments.
vr_build() {
	local top=$1 dir=$2
	shift 2
	[[ -e $top/config.status ]] &&
		vr_die "the source tree is configured in place: run 'make distclean' there first"
	if [[ ! -x $top/configure || $top/configure.ac -nt $top/configure || $top/Makefile.am -nt $top/Makefile.in ]]; then
		vr_log "autoreconf"
		(cd "$top" && autoreconf -fi >/dev/null 2>&1) || (cd "$top" && autoreconf -fi) || vr_die "autoreconf failed"
	fi
	mkdir -p "$dir"
	if [[ ! -e $dir/config.status || $top/configure -nt $dir/config.status ]]; then
		vr_log "configure $* (in ${dir#"$top"/})"
		(cd "$dir" && "$top/configure" -q "$@") || vr_die "configure failed (see ${dir}/config.log)"
	fi
	vr_log "make (in ${dir#"$top"/})"
	make -s -C "$dir" -j"$(nproc)" || vr_die "make failed in $dir"
}

# Sanitizer reports stop a run: ASan halts by default, UBSan only with
# halt_on_error (the builds also pass -fno-sanitize-recover=all). Exported
# for everything sanitized that scripts/check runs: unit tests, fuzzers and,
# through the lab's environment, the agent.
vr_sanitizer_env() {
	export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
}

# automake's test harness counts skips (exit 77) as passes: not here.
vr_no_unit_skips() {
	local log=$1/test-suite.log
	grep -q '^# SKIP: *0$' "$log" || { grep -E '^SKIP:' "$log" >&2; vr_die "unit tests skipped (see $log)"; }
}

# vr_fuzz TOP BUILDDIR TARGET...: runs each libFuzzer target
# BUILDDIR/tests/fuzz/fuzz_TARGET for VR_FUZZ_SECONDS (default 20) seconds on a
# scratch corpus seeded from tests/fuzz/corpus/TARGET. Any crash, abort or
# sanitizer report stops it; the input that caused it is copied into
# tests/fuzz/corpus/TARGET/, where the unit tests (tests/unit/replay_TARGET)
# replay it from then on: commit it with the fix.
vr_fuzz() {
	local top=$1 build=$2 t work f
	shift 2
	vr_sanitizer_env
	for t in "$@"; do
		work=$(mktemp -d)
		mkdir "$work/corpus" "$work/found"
		if ! "$build/tests/fuzz/fuzz_$t" -max_total_time="${VR_FUZZ_SECONDS:-20}" -max_len=8192 \
			-print_final_stats=1 -artifact_prefix="$work/found/" \
			"$work/corpus" "$top/tests/fuzz/corpus/$t" 2>"$work/log"; then
			tail -50 "$work/log" >&2
			for f in "$work"/found/*; do
				[[ -e $f ]] || continue
				cp "$f" "$top/tests/fuzz/corpus/$t/"
				vr_log "fuzz_$t: kept the input as tests/fuzz/corpus/$t/${f##*/}; the unit tests replay it from now on (commit it with the fix)"
			done
			rm -rf "$work"
			vr_die "fuzz_$t failed: a crash or a sanitizer report (above)"
		fi
		grep -E 'stat::number_of_executed_units' "$work/log" | sed "s/^/fuzz_$t: /" >&2
		rm -rf "$work"
	done
}
