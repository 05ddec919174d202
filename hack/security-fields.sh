#!/bin/sh
# Runs the per-field integration tests (test/integration/security_*_test.go,
# resources_*_test.go) on every installed runtime handler and prints the
# field x handler table of docs/security-fields.md from their `go test -v`
# output. Needs root and a built daemon:
#   make build && hack/security-fields.sh [go-test-v-output-file]
# With a file argument it only converts that earlier output.
set -eu
cd "$(dirname "$0")/.."
if [ $# -ge 1 ]; then
	out=$1
else
	out=$(mktemp)
	CRICKET_ROOT_TESTS=1 CRICKETD_BIN=${CRICKETD_BIN:-$PWD/bin/cricketd} go test -tags seccomp -count=1 -p 1 -v \
		-run 'TestSecurity(User|Privileges|Namespaces|Mounts|Devices)$|TestResourcesFields$' ./test/integration/ >"$out" 2>&1 || true
	echo "go test output: $out" >&2
fi
awk '
# Log lines of a subtest follow its "=== RUN" line; keep the last one as
# the reason a case was skipped or rejected.
/^=== RUN/ { cur = $3; msg[cur] = ""; next }
/^ +[a-z_]+_test\.go:[0-9]+: / {
	if (cur != "") { m = $0; sub(/^ +[a-z_]+_test\.go:[0-9]+: /, "", m); msg[cur] = m }
	next
}
/^ *--- (PASS|FAIL|SKIP): Test[A-Za-z]+\/(cricket|runc|crun)\// {
	res = $2; name = $3; sub(/:$/, "", res)
	n = split(name, p, "/")
	if (n < 3) next
	test = p[1]; h = p[2]; field = p[3]
	for (i = 4; i <= n; i++) field = field "/" p[i]
	key = test SUBSEP field
	if (!(key in seen)) { seen[key] = 1; order[++rows] = key }
	if (res == "PASS") {
		v = (field ~ /_is_rejected$/ || field ~ /_are_rejected$/) ? "rejected as required" : "honoured"
		if (field ~ /^hugepage_limits$/ && msg[name] ~ /no hugetlb controller/) v = "n/a here: no hugetlb controller (limits dropped)"
	} else if (res == "SKIP") {
		v = "n/a: " msg[name]
	} else {
		v = "**FAIL**"
	}
	gsub(/\|/, "\\|", v)
	cell[key, h] = v
}
END {
	print "| test | field | cricket (built-in) | runc | crun |"
	print "|---|---|---|---|---|"
	for (r = 1; r <= rows; r++) {
		split(order[r], k, SUBSEP)
		f = k[2]
		printf "| %s | %s | %s | %s | %s |\n", k[1], f, c(order[r], "cricket"), c(order[r], "runc"), c(order[r], "crun")
	}
}
function c(key, h) { return ((key, h) in cell) ? cell[key, h] : "not run" }
' "$out"
