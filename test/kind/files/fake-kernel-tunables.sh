#!/bin/sh
# Test scaffolding of the offline kind node image (test/kind): the kubelet
# sets kernel tunables that are not namespaced (vm.overcommit_memory,
# kernel.panic, ...), so from a privileged node it would change the build
# host's. Before the kubelet starts, each is covered, in the node's own
# mount namespace, by a file holding its current value, which the kubelet
# then reads and rewrites instead of the host's.
set -eu
dir=/run/kind-tunables
for f in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
	grep -qs " /proc/sys/$f " /proc/self/mountinfo && continue
	mkdir -p "$dir/$(dirname "$f")"
	cat "/proc/sys/$f" >"$dir/$f"
	mount --bind "$dir/$f" "/proc/sys/$f"
done
