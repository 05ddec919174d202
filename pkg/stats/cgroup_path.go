package stats

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// containerCgroup returns the cgroup of ref: its CgroupPath, else the
// linux.cgroupsPath of its bundle's OCI spec, which is read once and
// remembered. The spec is the authority: it is what the executor used.
func (c *Collector) containerCgroup(ref ContainerRef) (string, error) {
	if ref.CgroupPath != "" {
		return ref.CgroupPath, nil
	}
	key := "container/" + ref.ID
	c.mu.Lock()
	if m, ok := c.known[key]; ok && m.cgroupPath != "" {
		c.mu.Unlock()
		return m.cgroupPath, nil
	}
	c.mu.Unlock()
	path, err := specCgroupsPath(ref.Bundle)
	if err != nil {
		return "", fmt.Errorf("cgroup of container %s: %w", ref.ID, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rememberLocked(key, c.opts.Now()).cgroupPath = path
	return path, nil
}

func specCgroupsPath(bundle string) (string, error) {
	if bundle == "" {
		return "", fmt.Errorf("no bundle: %w", errdefs.ErrNotFound)
	}
	name := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(name)
	if err != nil {
		if os.IsNotExist(err) {
			return "", fmt.Errorf("read %s: %w", name, errdefs.ErrNotFound)
		}
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	var spec struct {
		Linux *struct {
			CgroupsPath string `json:"cgroupsPath"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		return "", fmt.Errorf("decode %s: %w", name, err)
	}
	if spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		return "", fmt.Errorf("%s names no cgroup: %w", name, errdefs.ErrNotFound)
	}
	return spec.Linux.CgroupsPath, nil
}
