#!/usr/bin/env bash
# images.sh builds the lab's local container images, FROM scratch, from
# static binaries (nothing can be pulled here), and tags them
# faultlab/<name>:local.
#
#   bash scripts/images.sh                      # faultlab toxiproxy prometheus
#   bash scripts/images.sh faultlab toxiproxy   # just these
#   bash scripts/images.sh all                  # also victorialogs filebeat postgres
#
# Images: faultlab toxiproxy prometheus victorialogs filebeat postgres
#
# Each image's inputs (Dockerfile, binaries, configs) are staged into a
# temporary build context and hashed. When an image labelled
# faultlab.inputs=<hash> already exists, `docker build` is skipped and the
# tag is (re)pointed at it. One line per image: name, built|cached, seconds.
#
# Tool binaries come from scripts/tools.sh
# (${FAULTLAB_TOOLS:-$HOME/.cache/faultlab/tools}/bin).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${FAULTLAB_TOOLS:-$HOME/.cache/faultlab/tools}
BIN=$TOOLS/bin
# The classic builder is enough for FROM scratch images and needs no buildx.
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}

die() { echo "images.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }

# tool name...: make sure the tools exist, via scripts/tools.sh.
tool() {
	local missing=()
	for t in "$@"; do [[ -x $BIN/$t ]] || missing+=("$t"); done
	[[ ${#missing[@]} -eq 0 ]] && return
	case ${missing[0]} in
	toxiproxy-*) bash "$ROOT/scripts/tools.sh" toxiproxy >&2 ;;
	*) bash "$ROOT/scripts/tools.sh" "${missing[@]}" >&2 ;;
	esac
	for t in "$@"; do [[ -x $BIN/$t ]] || die "$BIN/$t missing after scripts/tools.sh"; done
}

# static path: refuse dynamically linked binaries where the image has no libc.
static() {
	if command -v file >/dev/null && file -L "$1" | grep -q 'dynamically linked'; then
		die "$1 is dynamically linked; rebuild it with CGO_ENABLED=0"
	fi
}

# put src dst-in-ctx: copy a file (following symlinks), keeping its mode.
put() {
	mkdir -p "$(dirname "$ctx/$2")"
	cp -L --preserve=mode "$1" "$ctx/$2"
}

stage_faultlab() {
	# Same command as `make build`; the Go build cache makes a rebuild cheap.
	(cd "$ROOT" && CGO_ENABLED=0 nice -n 10 go build -trimpath -o bin/faultlab ./cmd/faultlab) ||
		die "go build ./cmd/faultlab failed"
	put "$ROOT/Dockerfile" Dockerfile
	put "$ROOT/bin/faultlab" bin/faultlab
	mkdir -p "$ctx/docker"
	cp -R "$ROOT/docker/rootfs" "$ctx/docker/rootfs"
}

stage_toxiproxy() {
	tool toxiproxy-server toxiproxy-cli
	static "$BIN/toxiproxy-server"
	# Also stage into docker/toxiproxy/bin (git-ignored) so that
	# `docker-compose -f docker-compose.yml -f docker-compose.chaos.yml build` works.
	mkdir -p "$ROOT/docker/toxiproxy/bin"
	for b in toxiproxy-server toxiproxy-cli; do
		cp -L --preserve=mode "$BIN/$b" "$ROOT/docker/toxiproxy/bin/$b"
		put "$BIN/$b" "bin/$b"
	done
	put "$ROOT/docker/toxiproxy/Dockerfile" Dockerfile
	put "$ROOT/docker/toxiproxy/toxiproxy.json" toxiproxy.json
}

stage_prometheus() {
	tool prometheus
	local prom cfg
	prom=$(readlink -f "$BIN/prometheus")
	put "$prom" rootfs/bin/prometheus
	# Debian's prometheus is linked to libc: copy the libraries ldd names and
	# the dynamic loader, at their own paths, into the scratch root.
	if ldd "$prom" >/dev/null 2>&1; then
		local lib
		while read -r lib; do
			[[ -n $lib ]] && put "$lib" "rootfs$lib"
		done < <(ldd "$prom" | grep -o '/[^ ]*' | sort -u)
	fi
	cfg=$ROOT/observability/prometheus
	[[ -f $cfg/prometheus.yml ]] || die "$cfg/prometheus.yml missing (the observability configs)"
	put "$cfg/prometheus.yml" rootfs/etc/prometheus/prometheus.yml
	if [[ -d $cfg/rules ]]; then
		mkdir -p "$ctx/rootfs/etc/prometheus"
		cp -RL "$cfg/rules" "$ctx/rootfs/etc/prometheus/rules"
	fi
	cp -R "$ROOT/docker/prometheus/data" "$ctx/data"
	put "$ROOT/docker/prometheus/Dockerfile" Dockerfile
}

stage_victorialogs() {
	tool victoria-logs
	static "$BIN/victoria-logs"
	put "$BIN/victoria-logs" bin/victoria-logs
	cp -R "$ROOT/docker/victorialogs/data" "$ctx/data"
	put "$ROOT/docker/victorialogs/Dockerfile" Dockerfile
}

stage_filebeat() {
	tool filebeat
	static "$BIN/filebeat"
	put "$BIN/filebeat" bin/filebeat
	put "$ROOT/docker/filebeat/filebeat.yml" filebeat.yml
	cp -R "$ROOT/docker/filebeat/data" "$ctx/data"
	put "$ROOT/docker/filebeat/Dockerfile" Dockerfile
}

# libs_of file...: put the libraries ldd names (and the loader) under rootfs/.
libs_of() {
	local lib
	while read -r lib; do
		[[ -n $lib ]] && put "$lib" "rootfs$lib"
	done < <(ldd "$@" | grep -o '/[^ ]*' | grep -v ':$' | sort -u)
}

stage_postgres() {
	# Debian's PostgreSQL 15 (apt-get install postgresql), at its own paths.
	local pg=/usr/lib/postgresql/15 f
	[[ -x $pg/bin/postgres ]] || die "$pg/bin/postgres missing: apt-get install -y postgresql (15)"
	for f in bin/postgres bin/initdb bin/pg_isready lib/plpgsql.so lib/dict_snowball.so; do
		put "$pg/$f" "rootfs$pg/$f"
	done
	# The share dir without man pages and extensions other than plpgsql, and
	# only the UTC zones: fewer files to stage and hash on every run.
	local share=/usr/share/postgresql/15 zi=/usr/share/zoneinfo
	mkdir -p "$ctx/rootfs$share/extension" "$ctx/rootfs$zi"
	tar -C "$share" -chf - --exclude=./man --exclude=./extension . | tar -C "$ctx/rootfs$share" -xf - ||
		die "copy $share failed"
	cp -L "$share"/extension/plpgsql* "$ctx/rootfs$share/extension/"
	cp -RL "$zi/UTC" "$zi/Etc" "$ctx/rootfs$zi/"
	put "$(readlink -f /bin/sh)" rootfs/bin/sh # initdb starts postgres through popen
	libs_of "$pg/bin/postgres" "$pg/bin/initdb" "$pg/bin/pg_isready" "$(readlink -f /bin/sh)"
	mkdir -p "$ctx/rootfs/etc" "$ctx/data"
	echo 'postgres:x:65532:65532:PostgreSQL:/var/lib/postgresql:/nonexistent' >"$ctx/rootfs/etc/passwd"
	echo 'postgres:x:65532:' >"$ctx/rootfs/etc/group"
	(cd "$ROOT" && CGO_ENABLED=0 nice -n 10 go build -trimpath -o "$ctx/rootfs/usr/local/bin/pgstart" ./cmd/pgstart) ||
		die "go build ./cmd/pgstart failed"
	put "$ROOT/docker/postgres/Dockerfile" Dockerfile
}

# inputs_hash dir: one hash over every staged path, mode and content.
inputs_hash() {
	(cd "$1" && find . \( -type f -o -type l \) -print0 | LC_ALL=C sort -z |
		while IFS= read -r -d '' f; do
			printf '%s %s %s\n' "$f" "$(stat -Lc %a "$f")" "$(sha256sum <"$f" | cut -d' ' -f1)"
		done) | sha256sum | cut -c1-32
}

image() {
	local name=$1 tag=faultlab/$1:local t0 hash id how
	t0=$(now)
	ctx=$(mktemp -d "${TMPDIR:-/tmp}/faultlab-image-$name.XXXXXX")
	trap 'rm -rf "$ctx"' RETURN
	"stage_$name"
	hash=$(inputs_hash "$ctx")
	id=$(docker image ls -q --no-trunc --filter "label=faultlab.inputs=$hash" | head -n1)
	if [[ -n $id ]]; then
		docker tag "$id" "$tag"
		how=cached
	else
		# Quiet on success (the classic builder warns that it is deprecated).
		if ! docker build -q --label "faultlab.inputs=$hash" --label "faultlab.image=$name" \
			-t "$tag" "$ctx" >"$ctx.log" 2>&1; then
			cat "$ctx.log" >&2
			rm -f "$ctx.log"
			die "docker build $tag failed"
		fi
		rm -f "$ctx.log"
		how=built
	fi
	printf '%-28s %-6s %6.1fs  inputs=%s\n' "$tag" "$how" "$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')" "$hash"
}

command -v docker >/dev/null || die "docker not found"
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(faultlab toxiproxy prometheus)
[[ ${names[*]} != all ]] || names=(faultlab toxiproxy prometheus victorialogs filebeat postgres)
for n in "${names[@]}"; do
	case $n in
	faultlab | toxiproxy | prometheus | victorialogs | filebeat | postgres) image "$n" ;;
	*) die "unknown image $n (known: faultlab toxiproxy prometheus victorialogs filebeat postgres)" ;;
	esac
done
