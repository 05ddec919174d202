// Command cricketd is Cricket's daemon: it serves the CRI v1 API on a unix
// socket. This package is the composition root only: flags, configuration,
// wiring, signals and serving.
package main

import (
	"errors"
	"flag"
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

const usage = `Usage: cricketd [serve] [flags]        serve the CRI API (default); SIGHUP reloads the configuration
       cricketd config default          print the default configuration as commented TOML
       cricketd config show [flags]     print the configuration as merged from --config and its drop-ins,
                                        with the file each key comes from
       cricketd check [flags]           check the configuration and the host; one line per check
       cricketd image import [flags] ARCHIVE|-
                                        import the images of an OCI layout, OCI archive or docker archive
       cricketd version                 print the version
Run 'cricketd serve -h' for the flags (config show and check take the same).
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
	case "check":
		return check(args)
	case "image":
		return imageCmd(args)
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
	switch {
	case len(args) == 1 && args[0] == "default":
		if err := config.Default().WriteTOML(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "cricketd:", err)
			return exitError
		}
		return exitOK
	case len(args) >= 1 && args[0] == "show":
		return configShow(args[1:])
	default:
		fmt.Fprint(os.Stderr, "Usage: cricketd config default | cricketd config show [flags]\n")
		return exitConfig
	}
}

// configShow prints the merged configuration with the origin of each key,
// or every error of the files.
func configShow(args []string) int {
	f, err := parseFlags("config show", args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cricketd:", err)
		return exitConfig
	}
	cfg, origins, err := f.load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cricketd: %v\n", err)
		return exitCode(err)
	}
	files, err := f.files().Paths()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cricketd:", err)
		return exitError
	}
	if err := cfg.WriteMerged(os.Stdout, files, origins); err != nil {
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
