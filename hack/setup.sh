#!/usr/bin/env bash
# README command 1: install what is missing, build cricketd and its per-pod
# shim cricket-shim, install both and start cricketd with its embedded
# defaults, serving /run/cricket/cricket.sock.
# Under systemd it runs as the cricketd unit; elsewhere as a background
# process whose pid is in /run/cricket/cricketd.pid and whose log is
# /var/log/cricketd.log.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

hack/deps.sh
make build
# The per-pod shim first: cricketd refuses to start without it next to it.
install -m 0755 bin/cricket-shim /usr/local/bin/cricket-shim
install -m 0755 bin/cricketd /usr/local/bin/cricketd
[ -e /etc/crictl.yaml ] || install -m 0644 deploy/crictl.yaml /etc/crictl.yaml

# The host and the configuration, one line per check. A FAIL breaks pods:
# it is reported loudly, and cricketd is still started, so that what works
# can be used and the failure seen in its log too.
echo "cricketd check:"
if ! /usr/local/bin/cricketd check; then
	echo "cricketd check: FAIL lines above break pods; fix them and run hack/setup.sh again" >&2
fi

socket=/run/cricket/cricket.sock
if [ -d /run/systemd/system ]; then
	install -m 0644 deploy/cricketd.service /etc/systemd/system/cricketd.service
	systemctl daemon-reload
	systemctl enable cricketd >/dev/null
	systemctl restart cricketd
else
	pidfile=/run/cricket/cricketd.pid
	if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		pid=$(cat "$pidfile")
		echo "stopping the running cricketd (pid $pid)"
		kill -TERM "$pid"
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	mkdir -p /run/cricket
	setsid /usr/local/bin/cricketd >>/var/log/cricketd.log 2>&1 < /dev/null &
	echo $! > "$pidfile"
fi

for _ in $(seq 100); do
	if crictl --runtime-endpoint "unix://$socket" version >/dev/null 2>&1; then
		crictl --runtime-endpoint "unix://$socket" version
		echo "cricketd is serving unix://$socket"
		exit 0
	fi
	sleep 0.2
done
echo "cricketd did not start; see /var/log/cricketd.log or journalctl -u cricketd" >&2
exit 1
