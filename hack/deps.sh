#!/usr/bin/env bash
# Installs what building, running and testing Cricket needs on Debian 12, as
# root: apt packages, crictl, Go modules. Idempotent and quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH=/usr/local/go/bin:$PATH
GO_MIN=1.26
CRI_TOOLS_VERSION=v1.37.0

if [ "$(id -u)" != 0 ]; then
	echo "hack/deps.sh: run as root" >&2
	exit 1
fi
if ! command -v go >/dev/null; then
	echo "hack/deps.sh: Go >= $GO_MIN is needed at /usr/local/go (https://go.dev/doc/install)" >&2
	exit 1
fi
have=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$GO_MIN" "$have" | sort -V | head -n1)" != "$GO_MIN" ]; then
	echo "hack/deps.sh: Go $have is older than $GO_MIN" >&2
	exit 1
fi

# curl, netcat-openbsd, bind9-dnsutils (dig): the agnhost test image carries
# them (test/images).
# apparmor: apparmor_parser, which checks the generated default profile
# (pkg/apparmor TestProfileCompiles) and loads profiles where AppArmor is on.
packages=(gcc make bzip2 git pkg-config libseccomp-dev runc crun containernetworking-plugins busybox curl netcat-openbsd bind9-dnsutils iproute2 iptables ca-certificates apparmor criu)
missing=()
for p in "${packages[@]}"; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "hack/deps.sh: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# crictl built by go install reports version "unknown": read its build info.
if ! command -v crictl >/dev/null || ! grep -q "sigs.k8s.io/cri-tools[[:space:]]*$CRI_TOOLS_VERSION" <<<"$(go version -m "$(command -v crictl)" 2>/dev/null)"; then
	echo "hack/deps.sh: installing crictl $CRI_TOOLS_VERSION"
	GOBIN=/usr/local/bin go install "sigs.k8s.io/cri-tools/cmd/crictl@$CRI_TOOLS_VERSION"
fi

go mod download
