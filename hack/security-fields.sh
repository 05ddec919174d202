#!/bin/sh
# Runs the per-field integration tests (test/integration/security_*_test.go,
# resources_*_test.go) on every installed runtime handler and prints the
# field x handler table of docs/security-fields.md from their `go test -v`
# output, then a count of the leaf subtests (a test with subtests is not
# a case of its own). Needs root and a built daemon:
#   make build && hack/security-fields.sh [go-test-v-output-file]
# With a file argument it only converts that earlier output.
# When go test failed (a failing case, or a run that did not compile or
# finish) it prints no table, names the failing subtests on stderr and
# exits non-zero: the table is only evidence of a passing run.
set -eu
rc=0
if [ $# -ge 1 ]; then
	case $1 in
	/*) out=$1 ;;
	*) out=$PWD/$1 ;;
	esac
fi
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
	out=$(mktemp)
	CRICKET_ROOT_TESTS=1 CRICKETD_BIN=${CRICKETD_BIN:-$PWD/bin/cricketd} go test -tags seccomp -count=1 -p 1 -v \
		-run 'TestSecurity(User|Privileges|Namespaces|Mounts|Devices)$|TestResourcesFields$' ./test/integration/ >"$out" 2>&1 || rc=$?
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
/^ *--- (PASS|FAIL|SKIP): Test/ {
	res = $2; name = $3; sub(/:$/, "", res)
	if (!(name in result)) names[++count] = name
	result[name] = res
	why[name] = msg[name]
	next
}
# go test ends a finished package with "ok", a test binary with "PASS".
/^ok[ \t]/ || /^PASS$/ { pkgok = 1 }
/^FAIL([ \t]|$)/ { pkgfail = 1 }
END {
	# A test with subtests is not a case of its own: count and show leaves.
	for (i = 1; i <= count; i++) {
		n = names[i]; parent = n
		while (sub(/\/[^\/]*$/, "", parent)) hasChild[parent] = 1
	}
	for (i = 1; i <= count; i++) {
		name = names[i]
		if (name in hasChild) continue
		res = result[name]; leaves++
		if (res == "PASS") passed++; else if (res == "FAIL") failed++; else skipped++
		n = split(name, p, "/")
		if (n < 3 || p[2] !~ /^(cricket|runc|crun)$/) continue
		test = p[1]; h = p[2]; field = p[3]
		for (j = 4; j <= n; j++) field = field "/" p[j]
		key = test SUBSEP field
		if (!(key in seen)) { seen[key] = 1; order[++rows] = key }
		if (res == "PASS") v = (field ~ /_is_rejected$/ || field ~ /_are_rejected$/) ? "rejected as required" : "honoured"
		else if (res == "SKIP") v = "n/a: " why[name]
		else v = "**FAIL**"
		gsub(/\|/, "\\|", v)
		cell[key, h] = v
	}
	if (failed > 0 || pkgfail || !pkgok || rows == 0) {
		for (i = 1; i <= count; i++)
			if (!(names[i] in hasChild) && result[names[i]] == "FAIL") print "FAIL: " names[i] > "/dev/stderr"
		printf "security-fields: go test failed or did not finish (%d leaf subtests: %d passed, %d failed, %d skipped); no table\n", leaves, passed, failed, skipped > "/dev/stderr"
		exit 1
	}
	print "| test | field | cricket (built-in) | runc | crun |"
	print "|---|---|---|---|---|"
	for (r = 1; r <= rows; r++) {
		split(order[r], k, SUBSEP)
		printf "| %s | %s | %s | %s | %s |\n", k[1], k[2], c(order[r], "cricket"), c(order[r], "runc"), c(order[r], "crun")
	}
	printf "\n%d leaf subtests: %d passed, %d failed, %d skipped\n", leaves, passed, failed, skipped
}
function c(key, h) { return ((key, h) in cell) ? cell[key, h] : "not run" }
' "$out" || rc=$?
exit "$rc"
