// Command nginx stands in for nginx in the web-server test images. critest
// looks for an nginx master process: a process named "nginx" whose command
// line contains "master process", whose pid is in /var/run/nginx.pid, serving
// HTTP on the ports listed in /etc/nginx/conf.d/*.conf. This program is that
// master; busybox httpd does the serving as its worker.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

const (
	titlePrefix = "nginx: master process "
	pidFile     = "/var/run/nginx.pid"
	busybox     = "/bin/busybox"
	defaultRoot = "/usr/share/nginx/html"
	versionLine = "nginx version: nginx/%s (cricket test stand-in, served by busybox httpd)\n"
)

var (
	listenRe = regexp.MustCompile(`(?m)^\s*listen\s+(?:[^\s;]*:)?(\d+)[^;]*;`)
	rootRe   = regexp.MustCompile(`(?m)^\s*root\s+([^\s;]+)\s*;`)
)

func main() {
	if !strings.HasPrefix(os.Args[0], titlePrefix) {
		handleFlags(os.Args[1:])
		retitle()
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "nginx: %v\n", err)
		os.Exit(1)
	}
}

// handleFlags answers the informational flags nginx users try first.
func handleFlags(args []string) {
	for _, a := range args {
		switch a {
		case "-v", "-V":
			fmt.Fprintf(os.Stderr, versionLine, os.Getenv("NGINX_VERSION"))
			os.Exit(0)
		case "-t":
			fmt.Fprintln(os.Stderr, "nginx: configuration file /etc/nginx/nginx.conf test is successful")
			os.Exit(0)
		}
	}
}

// retitle re-executes the binary in place with nginx's master process title
// as argv[0], so /proc/PID/cmdline reads like a real nginx master while the
// kernel's comm stays "nginx" (the executable's file name).
func retitle() {
	exe, err := os.Executable()
	if err != nil {
		exe = "/usr/sbin/nginx"
	}
	title := titlePrefix + strings.Join(append([]string{"nginx"}, os.Args[1:]...), " ")
	if err := syscall.Exec(exe, []string{title}, os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "nginx: exec %s: %v\n", exe, err)
		os.Exit(1)
	}
}

func run() error {
	ports, root := readConfig()
	if err := os.MkdirAll(filepath.Dir(pidFile), 0o755); err != nil {
		return fmt.Errorf("create pid directory: %w", err)
	}
	if err := os.WriteFile(pidFile, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	defer os.Remove(pidFile)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)

	exited := make(chan error, len(ports))
	var workers []*exec.Cmd
	for _, port := range ports {
		w, err := startWorker(port, root)
		if err != nil {
			stop(workers)
			return err
		}
		workers = append(workers, w)
		go func() { exited <- w.Wait() }()
	}
	select {
	case <-sigs:
		stop(workers)
		return nil
	case err := <-exited:
		stop(workers)
		return fmt.Errorf("worker exited: %v", err)
	}
}

// readConfig collects the listen ports and document root from the nginx
// configuration files, defaulting to port 80 and /usr/share/nginx/html.
func readConfig() (ports []string, root string) {
	files, _ := filepath.Glob("/etc/nginx/conf.d/*.conf")
	var confs [][]byte
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil {
			confs = append(confs, data)
		}
	}
	return parseConfig(confs...)
}

// parseConfig extracts the distinct listen ports and the last root of confs.
func parseConfig(confs ...[]byte) (ports []string, root string) {
	root = defaultRoot
	seen := map[string]bool{}
	for _, data := range confs {
		for _, m := range listenRe.FindAllSubmatch(data, -1) {
			if p := string(m[1]); !seen[p] {
				seen[p] = true
				ports = append(ports, p)
			}
		}
		if m := rootRe.FindSubmatch(data); m != nil {
			root = string(m[1])
		}
	}
	if len(ports) == 0 {
		ports = []string{"80"}
	}
	return ports, root
}

func startWorker(port, root string) (*exec.Cmd, error) {
	cmd := &exec.Cmd{
		Path:        busybox,
		Args:        []string{"httpd", "-f", "-v", "-p", port, "-h", root},
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start busybox httpd on port %s: %w", port, err)
	}
	return cmd, nil
}

func stop(workers []*exec.Cmd) {
	for _, w := range workers {
		_ = w.Process.Signal(syscall.SIGTERM)
	}
}
