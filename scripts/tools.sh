#!/usr/bin/env bash
# tools.sh installs or builds the external tools the lab and its tests use,
# cached in ${FAULTLAB_TOOLS:-$HOME/.cache/faultlab/tools}/bin.
#
#   bash scripts/tools.sh                 # every tool
#   bash scripts/tools.sh promtool filebeat
#
# Tools: promtool prometheus alertmanager amtool victoria-logs filebeat
#        toxiproxy (toxiproxy-server + toxiproxy-cli) chromium
#        postgres (Debian's postgresql: initdb + postgres, for the store tests)
#        etcd (Debian etcd-server) kube-apiserver (built from k8s.io/kubernetes)
#
# It is idempotent: each tool has a version stamp (bin/.<tool>.version) and is
# reused when the stamp matches and the binary still runs. It prints one line
# per tool. Versions are pinned; see /work/shared/COMPONENTS.md and
# observability/README.md.
set -euo pipefail

TOOLS=${FAULTLAB_TOOLS:-$HOME/.cache/faultlab/tools}
BIN=$TOOLS/bin
mkdir -p "$BIN"

VICTORIALOGS_VERSION=v1.52.1
FILEBEAT_VERSION=v7.17.29
TOXIPROXY_VERSION=v2.12.0
KUBERNETES_VERSION=v1.37.2

log() { printf '%-16s %s\n' "$1" "$2"; }
die() { echo "tools.sh: $*" >&2; exit 1; }

stamp_ok() { # name version
	[[ -x $BIN/$1 && -f $BIN/.$1.version && $(cat "$BIN/.$1.version") == "$2" ]]
}
stamp() { echo "$2" >"$BIN/.$1.version"; }

as_root() {
	if [[ $(id -u) == 0 ]]; then "$@"
	elif command -v sudo >/dev/null; then sudo "$@"
	else die "need root to run: $*"
	fi
}

# apt_install keeps apt's and dpkg's output in $TOOLS/apt.log (hundreds of
# lines for chromium) and prints one line per package set up.
APT_LOG=$TOOLS/apt.log
apt_updated=
apt_install() {
	command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
	local from=1
	[[ -f $APT_LOG ]] && from=$(($(wc -l <"$APT_LOG") + 1))
	if [[ -z $apt_updated ]]; then
		as_root apt-get update -qq >>"$APT_LOG" 2>&1 || { tail -n 20 "$APT_LOG" >&2; die "apt-get update failed (log: $APT_LOG)"; }
		apt_updated=1
	fi
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$APT_LOG" 2>&1; then
		tail -n 20 "$APT_LOG" >&2
		die "apt-get install $* failed (log: $APT_LOG)"
	fi
	tail -n "+$from" "$APT_LOG" | sed -n 's/^Setting up \([^ ]*\) (\(.*\)) \.\.\.$/\1 \2/p' |
		while read -r pkg ver; do log apt "installed $pkg $ver"; done
}

# debian_link name system-path package: symlink a Debian binary into BIN.
debian_link() {
	local name=$1 path=$2 pkg=$3
	if [[ ! -x $path ]]; then
		apt_install "$pkg"
	fi
	[[ -x $path ]] || die "$path missing after installing $pkg"
	local ver
	ver="debian:$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || echo unknown)"
	if stamp_ok "$name" "$ver" && [[ $(readlink "$BIN/$name") == "$path" ]]; then
		log "$name" "ok $ver ($BIN/$name -> $path)"
		return
	fi
	ln -sfn "$path" "$BIN/$name"
	stamp "$name" "$ver"
	log "$name" "linked $ver ($BIN/$name -> $path)"
}

# Build from a neutral directory so the lab's go.mod is never touched.
gobuild_dir() { mkdir -p "$TOOLS/tmp"; cd "$TOOLS/tmp"; }

tool_promtool()     { debian_link promtool /usr/bin/promtool prometheus; }
tool_prometheus()   { debian_link prometheus /usr/bin/prometheus prometheus; }
tool_alertmanager() { debian_link alertmanager /usr/bin/prometheus-alertmanager prometheus-alertmanager; }
tool_amtool()       { debian_link amtool /usr/bin/amtool prometheus-alertmanager; }

# system_command name…: the first name on PATH outside BIN (BIN holds our
# own links, which must never point to themselves).
system_command() {
	local dir name
	local IFS=:
	for name in "$@"; do
		for dir in $PATH; do
			[[ -n $dir && $dir != "$BIN" && -x $dir/$name && ! -d $dir/$name ]] || continue
			[[ $(readlink -f "$dir/$name") == "$BIN"/* ]] && continue
			echo "$dir/$name"
			return
		done
	done
}

# postgres: Debian's PostgreSQL server binaries, which the store tests run
# (internal/store/pgtest) in a temporary directory; the package's own
# cluster is not started.
tool_postgres() {
	local dir
	dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
	if [[ -z $dir || ! -x $dir/initdb ]]; then
		apt_install postgresql
		dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
	fi
	debian_link initdb "$dir/initdb" postgresql
	debian_link postgres "$dir/postgres" postgresql
}

tool_etcd() { debian_link etcd /usr/bin/etcd etcd-server; }

# kube-apiserver is built from k8s.io/kubernetes, which cannot be go-installed:
# its go.mod points every staging module (k8s.io/api, client-go, …) at a local
# ./staging directory. A throw-away wrapper module requires k8s.io/kubernetes
# and replaces each staging module with its published v0.X.Y twin, read from
# kubernetes' own go.mod so the list never drifts. The cold build takes about
# 7 minutes and 2.3 GB of memory; the 120 MB binary is cached.
tool_kube_apiserver() {
	local v=$KUBERNETES_VERSION
	if stamp_ok kube-apiserver "$v" && "$BIN/kube-apiserver" --version >/dev/null 2>&1; then
		log kube-apiserver "ok $v"
		return
	fi
	local t0=$SECONDS json gomod staging minor tmp
	json=$(gobuild_dir && go mod download -json "k8s.io/kubernetes@$v")
	gomod=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
	[[ -f $gomod ]] || die "go mod download gave no go.mod for kubernetes $v"
	staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$gomod")
	[[ -n $staging ]] || die "no staging modules in kubernetes $v go.mod"
	minor=${v#v1.}
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/faultlab-kube.XXXXXX")
	trap 'rm -rf "$tmp"' RETURN
	{
		echo "module faultlab.local/kube-apiserver-build"
		echo "go $(go env GOVERSION | sed 's/^go//')"
		echo "require k8s.io/kubernetes $v"
		local m
		for m in $staging; do echo "replace $m => $m v0.$minor"; done
	} >"$tmp/go.mod"
	local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$v"
	ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
	ldflags+=" -X k8s.io/component-base/version.gitMinor=${minor%%.*}"
	ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
	(cd "$tmp" && go get "k8s.io/kubernetes/cmd/kube-apiserver@$v" &&
		CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" \
			-o "$BIN/kube-apiserver.new" k8s.io/kubernetes/cmd/kube-apiserver) >&2
	mv "$BIN/kube-apiserver.new" "$BIN/kube-apiserver"
	"$BIN/kube-apiserver" --version >/dev/null 2>&1 || die "kube-apiserver does not run"
	stamp kube-apiserver "$v"
	log kube-apiserver "built $v in $((SECONDS - t0))s"
}

tool_chromium() {
	local path
	path=$(system_command chromium chromium-browser)
	if [[ -z $path ]]; then
		apt_install chromium
		path=$(system_command chromium) || true
		[[ -n $path ]] || die "chromium missing after install"
	fi
	if [[ $(readlink "$BIN/chromium" 2>/dev/null) == "$path" ]]; then
		log chromium "ok $(readlink -f "$path")"
		return
	fi
	ln -sfn "$path" "$BIN/chromium"
	log chromium "linked $(readlink -f "$path") ($BIN/chromium -> $path)"
}

tool_victoria_logs() {
	local v=$VICTORIALOGS_VERSION
	if stamp_ok victoria-logs "$v" && "$BIN/victoria-logs" -version >/dev/null 2>&1; then
		log victoria-logs "ok $v"
		return
	fi
	local t0=$SECONDS
	(gobuild_dir && CGO_ENABLED=0 GOBIN=$BIN go install \
		"github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$v") >&2
	"$BIN/victoria-logs" -version >/dev/null 2>&1 || die "victoria-logs does not run"
	stamp victoria-logs "$v"
	log victoria-logs "built $v in $((SECONDS - t0))s"
}

tool_filebeat() {
	local v=$FILEBEAT_VERSION
	if stamp_ok filebeat "$v" && "$BIN/filebeat" version >/dev/null 2>&1; then
		log filebeat "ok $v"
		return
	fi
	local t0=$SECONDS
	# go install is refused (beats uses replace directives): build a writable copy.
	local json dir src
	json=$(gobuild_dir && go mod download -json "github.com/elastic/beats/v7@$v")
	dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
	[[ -d $dir ]] || die "go mod download gave no Dir for beats $v"
	src=$(mktemp -d "${TMPDIR:-/tmp}/faultlab-beats.XXXXXX")
	trap 'rm -rf "$src"' RETURN
	cp -R "$dir/." "$src/"
	chmod -R u+w "$src"
	(cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$BIN/filebeat.new" ./filebeat) >&2
	mv "$BIN/filebeat.new" "$BIN/filebeat"
	"$BIN/filebeat" version >/dev/null 2>&1 || die "filebeat does not run"
	stamp filebeat "$v"
	log filebeat "built $v in $((SECONDS - t0))s"
}

tool_toxiproxy() {
	local v=$TOXIPROXY_VERSION
	if stamp_ok toxiproxy-server "$v" && stamp_ok toxiproxy-cli "$v" &&
		"$BIN/toxiproxy-server" -version >/dev/null 2>&1; then
		log toxiproxy "ok $v"
		return
	fi
	local t0=$SECONDS tmp
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/faultlab-toxiproxy.XXXXXX")
	trap 'rm -rf "$tmp"' RETURN
	(gobuild_dir && CGO_ENABLED=0 GOBIN=$tmp go install \
		-ldflags "-X github.com/Shopify/toxiproxy/v2.Version=${v#v}" \
		"github.com/Shopify/toxiproxy/v2/cmd/server@$v" \
		"github.com/Shopify/toxiproxy/v2/cmd/cli@$v") >&2
	mv "$tmp/server" "$BIN/toxiproxy-server"
	mv "$tmp/cli" "$BIN/toxiproxy-cli"
	"$BIN/toxiproxy-server" -version >/dev/null 2>&1 || die "toxiproxy-server does not run"
	stamp toxiproxy-server "$v"
	stamp toxiproxy-cli "$v"
	log toxiproxy "built $v in $((SECONDS - t0))s"
}

all=(promtool prometheus alertmanager amtool victoria-logs toxiproxy filebeat chromium postgres etcd kube-apiserver)
want=("$@")
[[ ${#want[@]} -gt 0 ]] || want=("${all[@]}")
for t in "${want[@]}"; do
	case $t in
	promtool | prometheus | alertmanager | amtool | victoria-logs | filebeat | toxiproxy | chromium | postgres | etcd | kube-apiserver)
		"tool_${t//-/_}" ;;
	toxiproxy-server | toxiproxy-cli) tool_toxiproxy ;;
	*) die "unknown tool $t (known: ${all[*]})" ;;
	esac
done
