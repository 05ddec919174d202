#!/usr/bin/env bash
# make lint: in a script that sets pipefail, `cmd | grep -q PATTERN` fails
# at random. grep -q exits at its first match; if cmd writes again after
# that, it dies of SIGPIPE (exit 141) and pipefail makes the whole pipeline
# fail although the pattern was found. `kubectl logs POD | grep -q ...`
# failed CI that way. Match a captured output instead:
#   grep -q PATTERN <<<"$(cmd)"
# Usage: hack/lint-pipes.sh [FILE...] (default: the repository's scripts).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
	mapfile -t files < <(git ls-files '*.sh' .ci/run)
else
	files=("$@")
fi
bad=0
for f in "${files[@]}"; do
	grep -q 'pipefail' "$f" || continue
	# Comment lines aside; -q, -qx, -Eq, --quiet, -m N stop reading early.
	if hits=$(grep -nE '\|[[:space:]]*grep[[:space:]]+(-[[:alnum:]]*[qm]|--quiet|--silent|--max-count)' "$f" | grep -vE '^[0-9]+:[[:space:]]*#'); then
		sed "s|^|$f:|" <<<"$hits"
		bad=1
	fi
done
if [ "$bad" -ne 0 ]; then
	echo "hack/lint-pipes.sh: a pipe into grep -q (or -m) under pipefail fails when the writer gets SIGPIPE; use grep -q PATTERN <<<\"\$(cmd)\"" >&2
	exit 1
fi
