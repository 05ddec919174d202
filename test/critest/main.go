// Command critest-harness holds the parts of the critest harness (run.sh)
// that are easier to get right in Go than in bash: waiting for the daemon,
// the RunPodSandbox gate probe, removing every pod a run left behind,
// finding the processes it left, removing its iptables rules, and the JUnit
// summary.
//
//	critest-harness wait --endpoint unix:///path.sock [--pid N] [--timeout 60s]
//	critest-harness probe --endpoint unix:///path.sock
//	critest-harness cleanup --endpoint unix:///path.sock
//	critest-harness pids --dir DIR [--marker KEY=VALUE]
//	critest-harness iptables-clean --network NAME [--dry-run]
//	critest-harness summary --junit FILE --handler NAME [--known-failures FILE] [--known-skips FILE] [--strict-skips]
//	    [--expected FILE [--context host|vm] [--partial]]
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Exit codes shared with run.sh.
const (
	exitOK            = 0
	exitFail          = 1 // unexpected failures, or the command itself failed
	exitUsage         = 2
	exitUnimplemented = 3 // probe: RunPodSandbox answered Unimplemented
)

const usage = `usage: critest-harness <command> [flags]

commands:
  wait            wait until the CRI endpoint answers Version
  probe           RunPodSandbox gate: exit 3 when the runtime answers Unimplemented
  cleanup         stop and remove every container and pod sandbox on the endpoint
  pids            list the processes a run left (by marker, directory, pinned namespace)
  iptables-clean  remove the iptables rules and chains CNI made for one network
  summary         count a critest JUnit report against the known failures
`

// errUsage marks errors caused by the command line.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

func run(args []string, out io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return exitUsage
	}
	var code int
	var err error
	switch args[0] {
	case "wait":
		err = waitCmd(args[1:], out)
	case "probe":
		code, err = probeCmd(args[1:], out)
	case "cleanup":
		err = cleanupCmd(args[1:], out)
	case "pids":
		err = pidsCmd(args[1:], out)
	case "iptables-clean":
		err = iptablesCleanCmd(args[1:], out)
	case "summary":
		code, err = summaryCmd(args[1:], out)
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return exitOK
	default:
		err = fmt.Errorf("unknown command %q: %w", args[0], errUsage)
	}
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "critest-harness %s: %v\n%s", args[0], err, usage)
		return exitUsage
	case err != nil:
		fmt.Fprintf(os.Stderr, "critest-harness %s: %v\n", args[0], err)
		return exitFail
	}
	return code
}
