#!/bin/bash
# A Docker engine of the test's own for kind, from Debian's docker.io, that
# leaves the host as it found it.
#
#   test/kind/dockerd.sh start RUN_DIR   install docker.io if missing, start dockerd
#   test/kind/dockerd.sh stop RUN_DIR    remove its containers, networks and files; check the host
#
# dockerd keeps everything under RUN_DIR (data root, exec root, socket
# RUN_DIR/docker.sock, log RUN_DIR/dockerd.log); export
# DOCKER_HOST=unix://RUN_DIR/docker.sock to talk to it. It runs with
# iptables, ip6tables, IP masquerading, IP forwarding and the default bridge
# off, so it changes no host rule or sysctl: containers reach each other on
# the networks the test creates, and published ports go through
# docker-proxy on the host's loopback. Its default runtime is capswrap
# (test/kind/capswrap), which drops the capabilities this host cannot grant
# from privileged containers before running runc. stop checks that the
# iptables rules (iptables-save, ip6tables-save), the sysctls dockerd could
# touch, its links and the mounts below RUN_DIR are what they were before
# start, and fails if not (see snapshot).
set -euo pipefail

cmd=${1:?usage: dockerd.sh start|stop RUN_DIR}
run=${2:?usage: dockerd.sh start|stop RUN_DIR}
repo=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
DOCKERD=/usr/sbin/dockerd
# /usr/bin/docker is Debian's client; another docker on PATH may differ.
DOCKER=/usr/bin/docker
START_TIMEOUT=${DOCKERD_START_TIMEOUT:-90}
STOP_TIMEOUT=${DOCKERD_STOP_TIMEOUT:-60}
SYSCTLS="net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables"

log() { echo "dockerd.sh: $*" >&2; }

docker_() { timeout 120 "$DOCKER" -H "unix://$run/docker.sock" "$@"; }

# install installs Debian's docker.io without starting its services.
install() {
	[ -x "$DOCKERD" ] && return 0
	log "installing docker.io from apt"
	local policy=/usr/sbin/policy-rc.d made=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made=1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
	[ -n "$made" ] && rm -f "$policy"
	return 0
}

# snapshot writes what dockerd could change on the host to $1: the
# iptables and ip6tables rules and chains of Docker (DOCKER*, docker0,
# br-<id> bridges), the sysctls it may set, its links and the mounts below
# the run dir. The rest of the host is other tests' business: they change
# rules, links and mounts while this one runs.
snapshot() {
	local docker='DOCKER|docker|br-[0-9a-f]{12}'
	{
		echo "## iptables"
		iptables-save | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//' | grep -E "$docker" || true
		echo "## ip6tables"
		ip6tables-save | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//' | grep -E "$docker" || true
		echo "## chain policies"
		iptables-save | grep -E '^:(INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) ' | sed 's/\[[0-9]*:[0-9]*\]//'
		echo "## sysctls"
		for s in $SYSCTLS; do echo "$s=$(sysctl -n "$s" 2>/dev/null || echo absent)"; done
		echo "## links"
		ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^($docker)" | sort || true
		echo "## mounts"
		awk '{print $5}' /proc/self/mountinfo | grep "^$run/" | sort || true
	} >"$1"
}

start() {
	install
	if [ -e "$run/dockerd.pid" ] && kill -0 "$(cat "$run/dockerd.pid")" 2>/dev/null; then
		log "dockerd already runs on $run"
		return 0
	fi
	mkdir -p "$run"
	snapshot "$run/host.before"
	go build -C "$repo" -o "$run/capswrap" ./test/kind/capswrap
	"$DOCKERD" --data-root "$run/data" --exec-root "$run/exec" --host "unix://$run/docker.sock" \
		--pidfile "$run/dockerd.pid" --iptables=false --ip6tables=false --ip-masq=false \
		--ip-forward=false --bridge=none --exec-opt native.cgroupdriver=cgroupfs \
		--add-runtime "capswrap=$run/capswrap" --default-runtime capswrap \
		--storage-driver overlay2 >"$run/dockerd.log" 2>&1 &
	echo $! >"$run/dockerd.launcher.pid"
	local deadline=$((SECONDS + START_TIMEOUT))
	until docker_ version >/dev/null 2>&1; do
		if ! kill -0 "$(cat "$run/dockerd.launcher.pid")" 2>/dev/null; then
			log "dockerd exited; its log:"; tail -20 "$run/dockerd.log" >&2; return 1
		fi
		if [ $SECONDS -ge $deadline ]; then
			log "dockerd did not answer within ${START_TIMEOUT}s"; tail -20 "$run/dockerd.log" >&2; return 1
		fi
		sleep 1
	done
	log "dockerd $(docker_ version -f '{{.Server.Version}}') on unix://$run/docker.sock"
}

# waitgone waits up to $2 seconds for pid $1 to exit.
waitgone() {
	local deadline=$((SECONDS + $2))
	while kill -0 "$1" 2>/dev/null; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 1
	done
}

stop() {
	[ -d "$run" ] || return 0
	local pid="" rc=0
	[ -e "$run/dockerd.pid" ] && pid=$(cat "$run/dockerd.pid")
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		local ids
		ids=$(docker_ ps -aq || true)
		[ -n "$ids" ] && { docker_ rm -f -v $ids >/dev/null || rc=1; }
		docker_ network prune -f >/dev/null || rc=1
		kill -TERM "$pid"
		if ! waitgone "$pid" "$STOP_TIMEOUT"; then
			log "dockerd $pid still runs after ${STOP_TIMEOUT}s: killing it"; kill -KILL "$pid"; rc=1
		fi
	fi
	# dockerd's containerd and any shim left run from binaries under /usr
	# with our exec root on their command line.
	local p
	for p in $(pgrep -f -- "$run/" || true); do
		[ "$p" = $$ ] && continue
		log "killing leftover process $p: $(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null)"; kill -KILL "$p" 2>/dev/null || true; rc=1
	done
	# Mounts below the run dir, deepest first.
	local m
	for m in $(awk '{print $5}' /proc/self/mountinfo | grep "^$run/" | sort -r); do
		umount -l "$m" || rc=1
	done
	if [ -e "$run/host.before" ]; then
		snapshot "$run/host.after"
		if ! diff -u "$run/host.before" "$run/host.after" >&2; then
			log "the host differs from before dockerd started (above)"; rc=1
		fi
	fi
	rm -rf "$run"
	return $rc
}

case $cmd in
start) start ;;
stop) stop ;;
*) echo "usage: dockerd.sh start|stop RUN_DIR" >&2; exit 2 ;;
esac
