package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// shimBinaryName is the per-pod shim's executable (cmd/cricket-shim), which
// `make build` and `make install` put next to cricketd.
const shimBinaryName = "cricket-shim"

// errNoShim marks a shim binary that is missing or not executable.
var errNoShim = errors.New("shim binary not usable")

// findShim returns the shim binary cricketd starts for every pod: override
// (the --shim-binary flag) when set, else cricket-shim in the directory of
// cricketd's own executable. It fails at start-up, rather than at the first
// RunPodSandbox, when that file is missing or not executable.
func findShim(override string) (string, error) {
	path := override
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("find own executable to locate %s: %w", shimBinaryName, err)
		}
		path = filepath.Join(filepath.Dir(exe), shimBinaryName)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("shim binary %s: %w", path, err)
	}
	if err := checkExecutable(abs); err != nil {
		return "", fmt.Errorf("%w: %w (install %s next to cricketd with `make install` or hack/setup.sh, or pass --shim-binary)", errNoShim, err, shimBinaryName)
	}
	return abs, nil
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", path)
	}
	return nil
}
