// Command cricketd is Cricket's daemon: it serves the CRI v1 API on a unix
// socket. This package is the composition root only: flags, configuration,
// wiring, signals and serving.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/cricket-cri/cricket/pkg/config"
	_ "github.com/cricket-cri/cricket/pkg/mainthread"
)

// Exit codes.
const (
	exitOK     = 0
	exitError  = 1
	exitConfig = 2 // bad flags or configuration
)

func main() {
	os.Exit(run(os.Args[1:]))
}

const usage = `Usage: cricketd [serve] [flags]    serve the CRI API (default)
       cricketd config default      print the default configuration as commented TOML
       cricketd version             print the version
Run 'cricketd serve -h' for the flags.
`

func run(args []string) int {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args)
	case "config":
		return configCmd(args)
	case "version":
		fmt.Println("cricketd", version())
		return exitOK
	case "help":
		fmt.Print(usage)
		return exitOK
	default:
		fmt.Fprintf(os.Stderr, "cricketd: unknown command %q\n%s", cmd, usage)
		return exitConfig
	}
}

func configCmd(args []string) int {
	if len(args) != 1 || args[0] != "default" {
		fmt.Fprint(os.Stderr, "Usage: cricketd config default\n")
		return exitConfig
	}
	if err := config.Default().WriteTOML(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cricketd:", err)
		return exitError
	}
	return exitOK
}

// exitCode maps an error of serve to the process exit code.
func exitCode(err error) int {
	var cerr config.Errors
	if errors.As(err, &cerr) || errors.Is(err, errBadFlags) {
		return exitConfig
	}
	return exitError
}
