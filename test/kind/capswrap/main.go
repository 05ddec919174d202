// Command capswrap is test scaffolding for this build host only, never
// part of the product: a runtime dockerd runs (--add-runtime) in place of
// runc, which removes from the bundle's config.json (create, run) or the
// exec process file (exec --process) every capability the host's bounding
// set cannot grant, then execs runc with the same arguments. A
// `docker run --privileged` (kind's node containers) asks for every
// capability, and on a host whose bounding set lacks one (this VM lacks
// CAP_SYS_RESOURCE) runc fails with "unable to apply caps".
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/sys/capability"
)

// runc is the runtime capswrap hands over to: $CAPSWRAP_RUNC or Debian's.
func runc() string {
	if p := os.Getenv("CAPSWRAP_RUNC"); p != "" {
		return p
	}
	return "/usr/sbin/runc"
}

func main() {
	if err := filterFiles(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "capswrap:", err)
		os.Exit(1)
	}
	argv := append([]string{"runc"}, os.Args[1:]...)
	err := syscall.Exec(runc(), argv, os.Environ())
	fmt.Fprintln(os.Stderr, "capswrap: exec runc:", err)
	os.Exit(1)
}

// filterFiles finds the spec files runc will read in args and filters them.
func filterFiles(args []string) error {
	bounding, err := boundingSet()
	if err != nil {
		return err
	}
	cmd, bundle, process := "", ".", ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		val := func() string {
			if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "-") {
				return v
			}
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case a == "--bundle" || a == "-b" || strings.HasPrefix(a, "--bundle="):
			bundle = val()
		case a == "--process" || a == "-p" || strings.HasPrefix(a, "--process="):
			process = val()
		case a == "--root" || a == "--log" || a == "--log-format" || a == "--criu" || a == "--pid-file" ||
			a == "--console-socket":
			i++ // a global or command option with a value
		case !strings.HasPrefix(a, "-") && cmd == "":
			cmd = a
		}
	}
	switch cmd {
	case "create", "run":
		return filterFile(filepath.Join(bundle, "config.json"), bounding, true)
	case "exec":
		if process != "" {
			return filterFile(process, bounding, false)
		}
	}
	return nil
}

// boundingSet is the set of capability names this process may keep.
func boundingSet() (map[string]bool, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		hex, ok := strings.CutPrefix(line, "CapBnd:")
		if !ok {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("CapBnd %q: %w", hex, err)
		}
		set := map[string]bool{}
		for _, c := range capability.ListKnown() {
			if mask&(1<<uint(c)) != 0 {
				set["CAP_"+strings.ToUpper(c.String())] = true
			}
		}
		return set, nil
	}
	return nil, fmt.Errorf("no CapBnd in /proc/self/status")
}

// filterFile rewrites the capabilities of the spec (or, when full is
// false, of the process) at path to those in bounding, keeping every other
// field as it is.
func filterFile(path string, bounding map[string]bool, full bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	proc := doc
	if full {
		if len(doc["process"]) == 0 {
			return nil
		}
		if err := json.Unmarshal(doc["process"], &proc); err != nil {
			return fmt.Errorf("parse %s process: %w", path, err)
		}
	}
	if len(proc["capabilities"]) == 0 {
		return nil
	}
	var caps map[string][]string
	if err := json.Unmarshal(proc["capabilities"], &caps); err != nil {
		return fmt.Errorf("parse %s capabilities: %w", path, err)
	}
	for set, names := range caps {
		kept := names[:0]
		for _, n := range names {
			if bounding[n] {
				kept = append(kept, n)
			}
		}
		caps[set] = kept
	}
	if proc["capabilities"], err = json.Marshal(caps); err != nil {
		return err
	}
	if full {
		if doc["process"], err = json.Marshal(proc); err != nil {
			return err
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}
