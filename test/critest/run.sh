#!/usr/bin/env bash
# critest (sigs.k8s.io/cri-tools) conformance suite against cricketd.
#
#   test/critest/run.sh [--handler H | --handlers "cricket runc crun"] [options] [-- critest flags]
#
# For each runtime handler it starts, under one temporary directory: the test
# image registry (test/images serve, on 127.0.0.1) with hosts.toml mirrors for
# the upstream registries, a CNI conflist with a bridge and subnet of its own
# plus portmap, and a cricketd with its own root, state, socket and config
# (runtime.default_handler = H); it runs critest against that socket with a
# JUnit report, prints "critest H: N passed, N failed, N skipped", and then
# stops and removes everything it started (also on failure or ^C).
# docs/conformance.md describes it all. Needs root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/test/critest
CRI_TOOLS_VERSION=v1.37.0
export PATH=/usr/local/go/bin:$PATH

usage() {
	cat <<EOF
usage: $0 [options] [-- extra critest flags]

  --handler H          runtime handler to test: cricket (built-in), runc or crun
  --handlers "H ..."   several handlers, one after the other (default: \$CRITEST_HANDLERS or cricket)
  --focus REGEX        only specs matching REGEX (repeatable; ginkgo --focus; or \$CRITEST_FOCUS)
  --skip REGEX         leave out specs matching REGEX (repeatable; ginkgo --skip; or \$CRITEST_SKIP)
  --parallel N         critest parallel nodes (default \$CRITEST_PARALLEL or 1; this machine has 2 cores)
  --timeout D          ginkgo suite timeout per handler (default \$CRITEST_TIMEOUT or 1h)
  --strict-skips       fail on skips that known-skips.txt does not list (make critest sets it)
  --expected FILE      the fewest passed specs per handler and context; a full run (no
                       --focus/--skip) below it fails (default test/critest/expected.txt)
  --context NAME       which lines of --expected apply: host (default) or vm (or \$CRITEST_CONTEXT)
  --run-known-failures also run the specs of known-failures.txt (by default they
                       are left out, like the specs this machine cannot run, and
                       counted as "not selected")
  --gate               probe RunPodSandbox first; when it answers Unimplemented,
                       print that critest is skipped and exit 0 (make critest uses this
                       until pods are built; see docs/conformance.md)
  --cricketd PATH      daemon binary (default \$CRICKETD_BIN or bin/cricketd, built when missing)
  --output DIR         reports and logs (default \$CRITEST_OUTPUT or _output/critest)
  --cache DIR          where critest is built once per version (default \$CRITEST_CACHE or /var/cache/cricket-test)
  --prebuilt DIR       take critest, ginkgo, the harness (critest-harness), the registry
                       (images) and its stand-ins (standins/) from DIR instead of building
                       them: a node without Go (test/vm; or \$CRITEST_PREBUILT)
  -v N                 cricketd log verbosity (default 2)
EOF
}

HANDLERS=${CRITEST_HANDLERS:-cricket}
PARALLEL=${CRITEST_PARALLEL:-1}
TIMEOUT=${CRITEST_TIMEOUT:-1h}
OUTPUT=${CRITEST_OUTPUT:-$REPO/_output/critest}
CACHE=${CRITEST_CACHE:-/var/cache/cricket-test}
CRICKETD=${CRICKETD_BIN:-$REPO/bin/cricketd}
VERBOSITY=2
PREBUILT=${CRITEST_PREBUILT:-}
GATE=0
STRICT_SKIPS=0
EXPECTED=$HERE/expected.txt
CONTEXT=${CRITEST_CONTEXT:-host}
RUN_KNOWN_FAILURES=0
FOCUS=()
SKIP=()
[ -n "${CRITEST_FOCUS:-}" ] && FOCUS=("$CRITEST_FOCUS")
[ -n "${CRITEST_SKIP:-}" ] && SKIP=("$CRITEST_SKIP")
EXTRA=()
while [ $# -gt 0 ]; do
	case $1 in
	--handler | --handlers) HANDLERS=$2; shift 2 ;;
	--focus) FOCUS+=("$2"); shift 2 ;;
	--skip) SKIP+=("$2"); shift 2 ;;
	--parallel) PARALLEL=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--strict-skips) STRICT_SKIPS=1; shift ;;
	--expected) EXPECTED=$2; shift 2 ;;
	--context) CONTEXT=$2; shift 2 ;;
	--run-known-failures) RUN_KNOWN_FAILURES=1; shift ;;
	--gate) GATE=1; shift ;;
	--cricketd) CRICKETD=$2; shift 2 ;;
	--output) OUTPUT=$2; shift 2 ;;
	--cache) CACHE=$2; shift 2 ;;
	--prebuilt) PREBUILT=$2; shift 2 ;;
	-v) VERBOSITY=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	--) shift; EXTRA=("$@"); break ;;
	*) echo "run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
done

log() { printf 'critest: %s\n' "$*"; }
die() { printf 'critest: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (critest creates pods with host mounts, namespaces and a bridge)"
for h in $HANDLERS; do
	case $h in cricket | runc | crun) ;; *) die "unknown handler $h (cricket, runc or crun)" ;; esac
done
case $PARALLEL in '' | *[!0-9]* | 0) die "--parallel wants a positive number, not '$PARALLEL'" ;; esac
[ "$PARALLEL" -le "$(nproc)" ] || log "warning: --parallel $PARALLEL is more than this machine's $(nproc) cores"
mkdir -p "$OUTPUT"
OUTPUT=$(cd "$OUTPUT" && pwd)

# Everything a run creates lives under WORK, whose path is kept short: unix
# socket paths (the daemon's, and the per-pod shim sockets under its state
# dir) must fit in 108 bytes.
WORK=$(mktemp -d "${CRITEST_TMPDIR:-/tmp}/crt-XXXXXX")
# Searchable by others, as /run is: the root of a container in a user
# namespace is an unprivileged host uid that reaches its rootfs by path.
chmod 0711 "$WORK"
RUN_ID=${WORK##*-}
# Marks the daemon and every process it starts (shims inherit it).
MARKER=CRICKET_CRITEST_RUN=$RUN_ID
NET=critest-$RUN_ID
BRIDGE=crt-$RUN_ID
HARNESS=$WORK/bin/critest-harness

REGISTRY_PID=
DAEMON_PID=
CRITEST_PID=
HW= # the current handler's directory
OUTH=
RESULT_LINES=()

# ---- cleanup: everything by PID or by this run's own names ----------------

# mounts_under DIR: mount points at or below DIR, deepest first.
mounts_under() {
	awk -v d="$1" '{
		p = $5; gsub(/\\040/, " ", p); gsub(/\\011/, "\t", p); gsub(/\\012/, "\n", p); gsub(/\\134/, "\\", p)
		if (p == d || index(p, d "/") == 1) print length(p) "\t" p
	}' /proc/self/mountinfo | sort -rn | cut -f2-
}

unmount_under() {
	local dir=$1 m pass
	for pass in 1 2 3 4 5; do
		mapfile -t mounts < <(mounts_under "$dir")
		[ ${#mounts[@]} -gt 0 ] || return 0
		[ "$pass" = 1 ] && log "cleanup: unmounting ${#mounts[@]} mounts left under $dir"
		for m in "${mounts[@]}"; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
	done
	[ -z "$(mounts_under "$dir")" ]
}

# run_pids DIR: the processes this run started below cricketd (the daemon,
# its shims, containers in namespaces pinned under DIR; see pids.go).
run_pids() {
	[ -x "$HARNESS" ] || return 0
	"$HARNESS" pids --dir "$1" --marker "$MARKER"
}

# stop_pid PID NAME: SIGTERM, then SIGKILL after a grace period.
stop_pid() {
	local pid=$1 name=$2 i
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "cleanup: $name (pid $pid) ignored SIGTERM for 20s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

kill_leftovers() {
	local dir=$1 pids pid
	mapfile -t pids < <(run_pids "$dir")
	[ ${#pids[@]} -gt 0 ] || return 0
	log "cleanup: ${#pids[@]} processes of this run were left: $(for pid in "${pids[@]}"; do printf '%s(%s) ' "$pid" "$(cat /proc/"$pid"/comm 2>/dev/null)"; done)"
	kill -TERM "${pids[@]}" 2>/dev/null || true
	sleep 2
	mapfile -t pids < <(run_pids "$dir")
	[ ${#pids[@]} -eq 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
	sleep 0.5
}

# stop_handler: undo start_handler; safe to call twice.
stop_handler() {
	[ -n "$HW" ] || return 0
	local sock=$HW/s/cricket.sock
	stop_pid "$CRITEST_PID" critest
	CRITEST_PID=
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null && [ -S "$sock" ]; then
		timeout 300 "$HARNESS" cleanup --endpoint "unix://$sock" || log "cleanup: removing pods through the CRI failed; going on by hand"
	fi
	stop_pid "$DAEMON_PID" cricketd
	DAEMON_PID=
	kill_leftovers "$HW"
	# Keep what explains a failure: shim and container logs.
	if [ -n "$OUTH" ] && [ -d "$HW/s" ]; then
		(cd "$HW" && find s root tmp -xdev -name '*.log' -size -50M -print0 2>/dev/null |
			xargs -0r cp --parents -t "$OUTH" 2>/dev/null) || true
	fi
	unmount_under "$HW" || log "cleanup: WARNING: mounts remain under $HW: $(mounts_under "$HW" | tr '\n' ' ')"
	if ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link del "$BRIDGE" || log "cleanup: WARNING: could not delete bridge $BRIDGE"
	fi
	[ -x "$HARNESS" ] && "$HARNESS" iptables-clean --network "$NET" || true
	if [ -z "$(mounts_under "$HW")" ]; then
		rm -rf --one-file-system "$HW"
	fi
	HW=
}

cleanup_all() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	stop_handler
	stop_pid "$REGISTRY_PID" "image registry"
	REGISTRY_PID=
	kill_leftovers "$WORK"
	unmount_under "$WORK"
	local leaks=()
	[ -z "$(mounts_under "$WORK")" ] || leaks+=("mounts: $(mounts_under "$WORK" | tr '\n' ' ')")
	[ -z "$(run_pids "$WORK")" ] || leaks+=("processes: $(run_pids "$WORK" | tr '\n' ' ')")
	ip link show "$BRIDGE" >/dev/null 2>&1 && leaks+=("bridge $BRIDGE")
	if [ ${#leaks[@]} -eq 0 ]; then
		rm -rf --one-file-system "$WORK"
		[ -e "$WORK" ] && leaks+=("directory $WORK")
	else
		leaks+=("directory $WORK (kept: something is still mounted or running in it)")
	fi
	if [ ${#leaks[@]} -gt 0 ]; then
		log "cleanup: WARNING: left behind: ${leaks[*]}"
		[ "$rc" = 0 ] && rc=1
	fi
	exit "$rc"
}
trap cleanup_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- builds ----------------------------------------------------------------

build_tools() {
	local plugin
	for plugin in bridge host-local portmap; do
		[ -x "/opt/cni/bin/$plugin" ] || [ -x "/usr/lib/cni/$plugin" ] ||
			die "CNI plugin $plugin not found in /opt/cni/bin or /usr/lib/cni (hack/deps.sh installs containernetworking-plugins)"
	done
	command -v ip >/dev/null && command -v iptables >/dev/null || die "ip and iptables are needed (hack/deps.sh)"
	mkdir -p "$WORK/bin"
	if [ -n "$PREBUILT" ]; then
		cp "$PREBUILT/critest-harness" "$HARNESS" || die "no critest-harness in $PREBUILT"
	else
		(cd "$REPO" && go build -o "$HARNESS" ./test/critest) || die "build test/critest failed"
	fi
	if [ ! -x "$CRICKETD" ] || [ ! -x "$(dirname "$CRICKETD")/cricket-shim" ]; then
		log "building cricketd and cricket-shim ($CRICKETD or the cricket-shim next to it is missing)"
		make -C "$REPO" --no-print-directory build >/dev/null || die "make build failed"
		CRICKETD=$REPO/bin/cricketd
	fi
}

# build_critest: critest (and ginkgo, which its --parallel runs) once per
# cri-tools and Go version, into the cache.
build_critest() {
	local key dir start
	if [ -n "$PREBUILT" ]; then
		CRITEST=$PREBUILT/critest
		GINKGO_DIR=$PREBUILT
		[ -x "$CRITEST" ] || die "no critest in $PREBUILT"
		return 0
	fi
	key=$CACHE/cri-tools-$CRI_TOOLS_VERSION-$(go env GOVERSION)
	CRITEST=$key/critest
	GINKGO_DIR=$key
	if [ -x "$CRITEST" ] && { [ "$PARALLEL" = 1 ] || [ -x "$key/ginkgo" ]; }; then
		return 0
	fi
	mkdir -p "$key"
	start=$(date +%s)
	dir=$(cd "$WORK" && GOWORK=off GOFLAGS= go mod download -json "sigs.k8s.io/cri-tools@$CRI_TOOLS_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -d "$dir" ] || die "go mod download sigs.k8s.io/cri-tools@$CRI_TOOLS_VERSION gave no module directory"
	log "building critest $CRI_TOOLS_VERSION into $key"
	if [ ! -x "$CRITEST" ]; then
		(cd "$dir" && GOWORK=off GOFLAGS= go test -c -o "$CRITEST.tmp.$$" ./cmd/critest) || die "building critest failed"
		mv "$CRITEST.tmp.$$" "$CRITEST"
	fi
	if [ ! -x "$key/ginkgo" ]; then
		(cd "$dir" && GOWORK=off GOFLAGS= go build -o "$key/ginkgo.tmp.$$" github.com/onsi/ginkgo/v2/ginkgo) || die "building ginkgo failed"
		mv "$key/ginkgo.tmp.$$" "$key/ginkgo"
	fi
	log "built critest in $(($(date +%s) - start))s"
}

# ---- the image registry ----------------------------------------------------

start_registry() {
	local start i
	start=$(date +%s)
	if [ -n "$PREBUILT" ]; then
		cp "$PREBUILT/images" "$WORK/bin/images" || die "no images in $PREBUILT"
		export CRICKET_STANDINS_BIN=$PREBUILT/standins
	else
		(cd "$REPO" && go build -o "$WORK/bin/images" ./test/images) || die "build test/images failed"
	fi
	# $CRITEST_REGISTRY_ADDR: a fixed address (test/vm's SELinux suite: the
	# engine's domain may connect to the HTTP ports only); else a free port.
	"$WORK/bin/images" serve --addr "${CRITEST_REGISTRY_ADDR:-127.0.0.1:0}" --hosts-dir "$WORK/certs.d" >"$OUTPUT/registry.log" 2>&1 &
	REGISTRY_PID=$!
	for i in $(seq 1 1200); do
		grep -q '^serving ' "$OUTPUT/registry.log" && break
		kill -0 "$REGISTRY_PID" 2>/dev/null || { cat "$OUTPUT/registry.log" >&2; die "the image registry exited"; }
		sleep 0.25
	done
	grep -q '^serving ' "$OUTPUT/registry.log" || die "the image registry did not start in 5 minutes ($OUTPUT/registry.log)"
	log "image registry (pid $REGISTRY_PID) ready in $(($(date +%s) - start))s on $(grep -o '127\.0\.0\.1:[0-9]*' "$OUTPUT/registry.log" | sort -u | tr '\n' ' ')(mirrors in $WORK/certs.d)"
}

# ---- one handler -----------------------------------------------------------

# free_subnet: a private /16 that no route on this host touches.
free_subnet() {
	local i routes
	routes=$(ip -4 route show table all 2>/dev/null; ip -4 addr show 2>/dev/null)
	for i in $(seq 200 249); do
		grep -q "10\.$i\." <<<"$routes" || { echo "10.$i.0.0/16"; return 0; }
	done
	die "no free 10.200-249.0.0/16 subnet for the test bridge"
}

# nri_configured: whether cricketd's config has an NRI socket key yet.
nri_configured() {
	"$CRICKETD" config default 2>/dev/null | awk '/^\[nri\]/ {s = 1; next} /^\[/ {s = 0} s && /^socket_path[[:space:]]*=/ {found = 1} END {exit !found}'
}

# start_handler NAME INDEX: a fresh cricketd for handler NAME.
start_handler() {
	local handler=$1 subnet
	HW=$WORK/h$2
	mkdir -p "$HW/root" "$HW/s" "$HW/tmp" "$HW/net.d"
	subnet=$(free_subnet)
	cat >"$HW/net.d/10-critest.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$NET",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$subnet"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$HW/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
	cat >"$HW/cricket.toml" <<EOF
# Written by test/critest/run.sh; everything else keeps its default.
version = 1

[runtime]
default_handler = "$handler"

[network]
cni_conf_dir = "$HW/net.d"
default_pod_subnet = "$subnet"

[streaming]
address = "127.0.0.1"
port = 0
EOF
	# crun 1.8 refuses a hybrid host whose cgroup2 mount has controllers:
	# there it runs through the wrapper deploy/ ships for such hosts.
	if [ "$handler" = crun ] && [ -n "$(tr -d '[:space:]' 2>/dev/null </sys/fs/cgroup/unified/cgroup.controllers)" ]; then
		printf '\n[runtime.handlers.crun]\ntype = "runc"\npath = "%s"\n' "$REPO/deploy/hybrid/crun-hybrid" >>"$HW/cricket.toml"
		log "crun runs through deploy/hybrid/crun-hybrid (hybrid cgroup host)"
	fi
	NRI_ARGS=()
	if nri_configured; then
		# The request timeout is shorter than the 2s the late-joining
		# plugin specs hold a Synchronize open for: they pass only because
		# a plugin's Synchronize may take the registration timeout (5s).
		# With 2s, the default, the old behaviour (plugin dropped, its
		# containers lost) only showed when the timer won a close race.
		printf '\n[nri]\nenable = true\nsocket_path = "%s"\nrequest_timeout = "1s"\n' "$HW/s/nri.sock" >>"$HW/cricket.toml"
		NRI_ARGS=("--nri-socket=$HW/s/nri.sock")
	fi
	# $CRITEST_CRICKETD_CONTEXT: the SELinux context cricketd runs in
	# (runcon; test/vm's SELinux suite runs it in the engine's domain).
	local runcon=()
	[ -n "${CRITEST_CRICKETD_CONTEXT:-}" ] && runcon=(runcon "$CRITEST_CRICKETD_CONTEXT")
	env "$MARKER" TMPDIR="$HW/tmp" "${runcon[@]}" "$CRICKETD" --config "$HW/cricket.toml" --root "$HW/root" --state "$HW/s" \
		--listen "$HW/s/cricket.sock" --registry-config-path "$WORK/certs.d" -v "$VERBOSITY" \
		>"$OUTH/cricketd.log" 2>&1 &
	DAEMON_PID=$!
	"$HARNESS" wait --endpoint "unix://$HW/s/cricket.sock" --pid "$DAEMON_PID" --timeout 60s ||
		{ tail -n 30 "$OUTH/cricketd.log" >&2; die "cricketd ($handler) did not start; log: $OUTH/cricketd.log"; }
	log "cricketd (pid $DAEMON_PID) handler $handler, bridge $BRIDGE on $subnet, state $HW"
}

run_critest() {
	local handler=$1 sock=$HW/s/cricket.sock args rc f start
	start=$(date +%s)
	printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n' "$sock" "$sock" >"$HW/crictl.yaml"
	args=(
		"--config=$HW/crictl.yaml" "--runtime-endpoint=unix://$sock" "--image-endpoint=unix://$sock"
		--ginkgo.v --ginkgo.no-color "--ginkgo.timeout=$TIMEOUT"
		"--ginkgo.junit-report=$OUTH/junit.xml"
		"${NRI_ARGS[@]}"
	)
	# Only with more than one node: ginkgo rejects a set -parallel flag.
	[ "$PARALLEL" -gt 1 ] && args+=("--parallel=$PARALLEL")
	for f in "${FOCUS[@]}"; do args+=("--ginkgo.focus=$f"); done
	for f in "${SKIP[@]}"; do args+=("--ginkgo.skip=$f"); done
	if [ "$RUN_KNOWN_FAILURES" = 0 ]; then
		while IFS= read -r re; do
			[ -n "$re" ] && args+=("--ginkgo.skip=$re")
		done < <(known_failure_regexes "$handler")
	fi
	args+=("${EXTRA[@]}")
	log "running: critest ${args[*]}"
	# critest's own temp dirs (host paths it mounts into pods) go under HW;
	# --parallel runs the ginkgo CLI from PATH. In the background, so that a
	# signal to this script is handled at once, not when critest ends.
	(cd "$HW/tmp" && TMPDIR=$HW/tmp PATH=$GINKGO_DIR:$PATH exec "$CRITEST" "${args[@]}") \
		> >(tee "$OUTH/critest.log") 2>&1 &
	CRITEST_PID=$!
	rc=0
	wait "$CRITEST_PID" || rc=$?
	CRITEST_PID=
	log "critest exited with $rc after $(($(date +%s) - start))s"
}

# known_failure_regexes H prints the regexes of known-failures.txt that
# apply to handler H: specs that cannot pass on this machine.
known_failure_regexes() {
	local handler=$1 line tags
	sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' "$HERE/known-failures.txt" | while IFS= read -r line; do
		if [[ $line == @* ]]; then
			tags=${line%% *}
			line=${line#* }
			[[ ",${tags#@}," == *",$handler,"* ]] || continue
		fi
		# ginkgo matches against a text that does not start where the
		# spec name in the report does: drop the anchor.
		printf '%s\n' "${line#^}"
	done
}

summarize() {
	local handler=$1 rc=0 flags=()
	[ "$STRICT_SKIPS" = 1 ] && flags+=(--strict-skips)
	# A focused run is not held to the recorded count.
	if [ ${#FOCUS[@]} -gt 0 ] || [ ${#SKIP[@]} -gt 0 ]; then
		flags+=(--partial)
	fi
	if [ -n "$EXPECTED" ]; then
		flags+=(--expected "$EXPECTED" --context "$CONTEXT")
	fi
	"$HARNESS" summary --junit "$OUTH/junit.xml" --handler "$handler" \
		--known-failures "$HERE/known-failures.txt" --known-skips "$HERE/known-skips.txt" "${flags[@]}" \
		>"$OUTH/summary.txt" 2>&1 || rc=$?
	cat "$OUTH/summary.txt"
	RESULT_LINES+=("$(grep "^critest $handler: " "$OUTH/summary.txt" || echo "critest $handler: no report ($(tail -n1 "$OUTH/summary.txt"))")")
	return "$rc"
}

# ---- main ------------------------------------------------------------------

build_tools

if [ "$GATE" = 1 ]; then
	# The gate: until RunPodSandbox exists every spec would fail for the same
	# reason. docs/conformance.md: remove --gate when pods are built.
	OUTH=$OUTPUT/gate
	rm -rf "$OUTH" && mkdir -p "$OUTH"
	start_handler "${HANDLERS%% *}" 0
	probe_rc=0
	"$HARNESS" probe --endpoint "unix://$HW/s/cricket.sock" || probe_rc=$?
	stop_handler
	case $probe_rc in
	0) ;;
	3)
		echo "critest: skipped — RunPodSandbox is not implemented yet"
		exit 0
		;;
	*) die "the RunPodSandbox probe failed (log: $OUTH/cricketd.log)" ;;
	esac
fi

build_critest
start_registry

failed=0
index=0
for handler in $HANDLERS; do
	index=$((index + 1))
	OUTH=$OUTPUT/$handler
	rm -rf "$OUTH" && mkdir -p "$OUTH"
	start_handler "$handler" "$index"
	run_critest "$handler"
	stop_handler
	summarize "$handler" || failed=1
done

if [ ${#RESULT_LINES[@]} -gt 1 ]; then
	echo
	printf '%s\n' "${RESULT_LINES[@]}"
fi
log "reports and logs: $OUTPUT"
exit "$failed"
