package runtime

// The cgroup of a restored container.
//
// CRIU puts the processes it restores into the cgroups recorded at the
// dump, which are the checkpointed container's, unless it is told the
// cgroup to restore into instead (its cgroup root). A restored container
// whose processes are not in its own cgroup cannot be stopped: `runc kill
// --all` and Cricket's cgroup kill signal the processes of that cgroup and
// find none. runc 1.2 and later tell CRIU the new cgroup on cgroup v2 too;
// runc before 1.2 does so on cgroup v1 only (libcontainer's
// criuApplyCgroups returned early on a unified host), which is Debian 12's
// runc 1.1.5: in the test VM its restored container outlived
// RemovePodSandbox ("did not exit") and the node's run. For such a runc
// the runc-CLI handler tells CRIU itself, through the CRIU configuration
// file that runc hands to CRIU when the bundle's org.criu.config
// annotation names one (CRIU applies that file over runc's own options).
// Every runc-CLI restore on cgroup v2 is then checked: a restored init
// outside its container's cgroup is killed and the restore fails.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// oldRunc matches runc releases before 1.2.
var oldRunc = regexp.MustCompile(`(?m)^runc version (0\.|1\.[01]([^0-9]|$))`)

// criuConfigAnnotation names the CRIU configuration file runc gives CRIU.
const criuConfigAnnotation = "org.criu.config"

// runcCRIUConfig is the file runc gives CRIU when the annotation is absent;
// its settings are copied into the file Cricket names instead (a var for
// tests).
var runcCRIUConfig = "/etc/criu/runc.conf"

// restoreCRIUConfig is the file, in the bundle, that tells CRIU the cgroup.
const restoreCRIUConfig = "criu-restore.conf"

// unifiedHost reports whether the host has cgroup v2 alone.
func unifiedHost() bool {
	m, err := cgroups.ReadMounts(cgroups.DefaultMountInfo)
	return err == nil && m.Mode() == cgroups.Unified
}

// specCgroupV2 is the container's cgroup as a path from the root of the
// cgroup v2 hierarchy, as the runtime derives it from the spec's
// cgroupsPath with the handler's driver; ok is false when the spec names
// none, or one relative to the runtime's own cgroup.
func specCgroupV2(spec *specs.Spec, systemd bool) (path string, ok bool) {
	if spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		return "", false
	}
	p := spec.Linux.CgroupsPath
	var err error
	switch {
	case systemd:
		path, err = cgroups.SystemdFSPath(p)
	case strings.HasPrefix(p, "/"):
		path, err = cgroups.CgroupfsPath(p)
	default:
		return "", false
	}
	return path, err == nil
}

// pidCgroupV2 reads the cgroup v2 path of pid.
func pidCgroupV2(pid int) (string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return "", fmt.Errorf("cgroup of process %d: %w", pid, err)
	}
	return parseCgroupV2(data)
}

// parseCgroupV2 finds the unified hierarchy's line ("0::/path") of a
// /proc/<pid>/cgroup file.
func parseCgroupV2(data []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("no cgroup v2 entry in %q", data)
}

// tellCRIUTheCgroup writes the bundle's CRIU configuration file for a
// restore into cgroup (the settings of runc.conf, then the cgroup root of
// the unified hierarchy, the "" controller) and names it in the bundle's
// spec. The file lives as long as the bundle: runc keeps the annotation
// in its state and gives CRIU the same file at a later checkpoint, where
// the cgroup root is the container's own cgroup again.
func tellCRIUTheCgroup(bundle string, spec *specs.Spec, cgroup string) error {
	var conf bytes.Buffer
	if data, err := os.ReadFile(runcCRIUConfig); err == nil {
		conf.Write(data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			conf.WriteByte('\n')
		}
	} else if !os.IsNotExist(err) {
		return fmt.Errorf("read CRIU configuration %s: %w", runcCRIUConfig, err)
	}
	if strings.ContainsAny(cgroup, " \t\n\"'\\") {
		return fmt.Errorf("cgroup %q cannot be written to a CRIU configuration file: %w", cgroup, errdefs.ErrInvalidArgument)
	}
	fmt.Fprintf(&conf, "# Cricket: runc before 1.2 does not tell CRIU the restored container's cgroup on cgroup v2.\ncgroup-root :%s\n", cgroup)
	path := filepath.Join(bundle, restoreCRIUConfig)
	if err := os.WriteFile(path, conf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write CRIU configuration: %w", err)
	}
	if spec.Annotations == nil {
		spec.Annotations = map[string]string{}
	}
	spec.Annotations[criuConfigAnnotation] = path
	return WriteSpec(bundle, spec)
}

// checkRestoredCgroup fails when the restored init is not in cgroup.
func checkRestoredCgroup(pidCgroup func(int) (string, error), pid int, cgroup string) error {
	got, err := pidCgroup(pid)
	if err != nil {
		return err
	}
	if got != cgroup {
		return fmt.Errorf("the restored process %d is in cgroup %s, not in the container's %s, where nothing could stop it", pid, got, cgroup)
	}
	return nil
}

// dropCheckpointMarker removes the "checkpoint" file libcontainer (the
// built-in handler's, and runc's) leaves in a container's state dir after
// every dump. A container that runs on after its checkpoint has no use
// for it, and a failed CheckpointPod must leave the containers it had
// already dumped as they were (the VM run found it left behind).
func dropCheckpointMarker(root, id string) error {
	err := os.Remove(filepath.Join(root, id, "checkpoint"))
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove the checkpoint marker of container %s: %w", id, err)
	}
	return nil
}

// The cgroups CRIU re-creates at a restore.
//
// crun (1.8.1) does not tell CRIU the restored container's cgroup either:
// CRIU re-creates the cgroups recorded at the dump (the checkpointed
// container's, under its pod's) and restores into them, and crun then
// moves the restored init into the container's own cgroup, leaving the
// re-created ones behind, empty (the VM run found the checkpointed
// container's cgroup back after its pod's removal). The runc-CLI handler
// notes, before a restore on cgroup v2, which cgroups on the path of the
// checkpointed container's (from the checkpoint's spec dump) are absent,
// and removes those that the restore made, deepest first. rmdir removes
// only an empty cgroup, so one the restored processes still use stays
// (and the handler's check of the init's cgroup fails such a restore).

// specDumpFile is the checkpointed container's spec in a checkpoint
// directory (the layout containerd and CRI-O share).
const specDumpFile = "spec.dump"

// cgroupFS is the cgroup v2 mount (a var for tests).
var cgroupFS = "/sys/fs/cgroup"

// absentDumpedCgroups lists the cgroups, deepest first, on the path of
// the checkpointed container's cgroup that do not exist and are not on the
// path of the new container's cgroup: the ones a restore may re-create.
func absentDumpedCgroups(checkpointDir string, systemd bool, cgroup string) []string {
	data, err := os.ReadFile(filepath.Join(checkpointDir, specDumpFile))
	if err != nil {
		return nil
	}
	var spec specs.Spec
	if json.Unmarshal(data, &spec) != nil {
		return nil
	}
	dumped, ok := specCgroupV2(&spec, systemd)
	if !ok {
		return nil
	}
	var out []string
	for p := filepath.Clean(dumped); p != "/" && p != "." && p != ""; p = filepath.Dir(p) {
		if p == cgroup || strings.HasPrefix(cgroup, p+"/") {
			break
		}
		if _, err := os.Lstat(filepath.Join(cgroupFS, p)); os.IsNotExist(err) {
			out = append(out, p)
		}
	}
	return out
}

// removeRecreatedCgroups removes the cgroups of absent (deepest first)
// that exist now, after moving any process CRIU restored into one of them
// into cgroup, the restored container's own (crun moves only the init);
// with cgroup "" nothing is moved, and a cgroup still in use is kept and
// named in the error.
func removeRecreatedCgroups(absent []string, cgroup string) error {
	var errs []error
	for _, p := range absent {
		if cgroup != "" {
			if err := moveProcs(filepath.Join(cgroupFS, p), filepath.Join(cgroupFS, cgroup)); err != nil {
				errs = append(errs, err)
			}
		}
		err := os.Remove(filepath.Join(cgroupFS, p))
		if err != nil && !os.IsNotExist(err) {
			errs = append(errs, fmt.Errorf("remove cgroup %s that the restore re-created: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// moveProcs moves the processes of cgroup dir from into cgroup dir to.
func moveProcs(from, to string) error {
	data, err := os.ReadFile(filepath.Join(from, "cgroup.procs"))
	if err != nil {
		return nil // gone, or never made
	}
	var errs []error
	for _, pid := range strings.Fields(string(data)) {
		if err := os.WriteFile(filepath.Join(to, "cgroup.procs"), []byte(pid), 0o644); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("move restored process %s from cgroup %s to %s: %w", pid, from, to, err))
		}
	}
	return errors.Join(errs...)
}
