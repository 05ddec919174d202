#!/usr/bin/env bash
# Builds checkpointctl (github.com/checkpoint-restore/checkpointctl, the
# tool that reads CRI-O's and containerd's checkpoint archives) from the Go
# module proxy, once per version and Go version, and prints its path.
#
#   test/kubelet/checkpointctl/build.sh [--cache DIR]
#
# This directory is a module of its own: checkpointctl v1.5.0 requires
# go-criu/v8 v8.1.0, which the proxy no longer serves, so go.mod replaces
# it with v8.3.0 (same API for what checkpointctl uses); go.sum pins the
# rest. The cache is $CHECKPOINTCTL_CACHE or /var/cache/cricket-test.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH=/usr/local/go/bin:$PATH
CACHE=${CHECKPOINTCTL_CACHE:-/var/cache/cricket-test}
if [ "${1:-}" = --cache ]; then
	CACHE=$2
fi
version=$(awk '$1 == "require" && $2 == "github.com/checkpoint-restore/checkpointctl" {print $3}' "$HERE/go.mod")
dir=$CACHE/checkpointctl-$version-$(go env GOVERSION)
if [ ! -x "$dir/checkpointctl" ]; then
	mkdir -p "$dir"
	echo "building checkpointctl $version into $dir" >&2
	(cd "$HERE" && go build -trimpath -o "$dir/checkpointctl.tmp" github.com/checkpoint-restore/checkpointctl)
	mv "$dir/checkpointctl.tmp" "$dir/checkpointctl"
fi
echo "$dir/checkpointctl"
