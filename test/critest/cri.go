package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// rpcTimeout bounds every single RPC the harness makes itself.
const rpcTimeout = 60 * time.Second

func dial(endpoint string) (runtimeapi.RuntimeServiceClient, func(), error) {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", endpoint, err)
	}
	return runtimeapi.NewRuntimeServiceClient(conn), func() { _ = conn.Close() }, nil
}

func endpointFlag(fs *flag.FlagSet) *string {
	return fs.String("endpoint", "", "CRI endpoint, unix:///path/to.sock (required)")
}

func parse(fs *flag.FlagSet, args []string, endpoint *string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%v: %w", err, errUsage)
	}
	if endpoint != nil && *endpoint == "" {
		return fmt.Errorf("--endpoint is required: %w", errUsage)
	}
	return nil
}

// waitCmd polls Version until the daemon answers, giving up early when the
// daemon's process (--pid) has exited.
func waitCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	endpoint := endpointFlag(fs)
	pid := fs.Int("pid", 0, "give up when this process has exited")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait")
	if err := parse(fs, args, endpoint); err != nil {
		return err
	}
	rs, closeConn, err := dial(*endpoint)
	if err != nil {
		return err
	}
	defer closeConn()
	deadline := time.Now().Add(*timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		v, err := rs.Version(ctx, &runtimeapi.VersionRequest{})
		cancel()
		if err == nil {
			fmt.Fprintf(out, "%s %s serves CRI %s on %s\n", v.GetRuntimeName(), v.GetRuntimeVersion(), v.GetRuntimeApiVersion(), *endpoint)
			return nil
		}
		if *pid > 0 && syscall.Kill(*pid, 0) != nil {
			return fmt.Errorf("process %d exited before %s answered: %w", *pid, *endpoint, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer Version within %s: %w", *endpoint, *timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// probeCmd asks for a trivial pod. Unimplemented means the pod layer is not
// built yet (exit 3); any other answer means it is, and a pod that did start
// is removed again.
func probeCmd(args []string, out io.Writer) (int, error) {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	endpoint := endpointFlag(fs)
	if err := parse(fs, args, endpoint); err != nil {
		return exitUsage, err
	}
	rs, closeConn, err := dial(*endpoint)
	if err != nil {
		return exitFail, err
	}
	defer closeConn()
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	resp, err := rs.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: probePodConfig()})
	switch status.Code(err) {
	case codes.OK:
		fmt.Fprintf(out, "probe: RunPodSandbox works (pod %s); removing the probe pod\n", resp.GetPodSandboxId())
		return exitOK, removePod(rs, resp.GetPodSandboxId())
	case codes.Unimplemented:
		fmt.Fprintf(out, "probe: RunPodSandbox answered Unimplemented: %s\n", status.Convert(err).Message())
		return exitUnimplemented, nil
	case codes.Unavailable, codes.DeadlineExceeded:
		return exitFail, fmt.Errorf("RunPodSandbox on %s: %w", *endpoint, err)
	default:
		// Implemented but failing: the suite will say more than this probe.
		fmt.Fprintf(out, "probe: RunPodSandbox is implemented but failed: %v\n", err)
		return exitOK, nil
	}
}

func probePodConfig() *runtimeapi.PodSandboxConfig {
	uid := make([]byte, 8)
	_, _ = rand.Read(uid)
	return &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{
			Name:      "critest-gate-probe",
			Namespace: "critest-gate",
			Uid:       hex.EncodeToString(uid),
		},
		Hostname: "critest-gate-probe",
		Linux:    &runtimeapi.LinuxPodSandboxConfig{},
	}
}

func removePod(rs runtimeapi.RuntimeServiceClient, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	if _, err := rs.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("stop pod %s: %w", id, err)
	}
	if _, err := rs.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("remove pod %s: %w", id, err)
	}
	return nil
}

// cleanupCmd removes what a run left on the daemon, the way a kubelet would,
// so that the daemon tears down mounts, network and shims itself. It goes on
// after an error and reports them all.
func cleanupCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("cleanup", flag.ContinueOnError)
	endpoint := endpointFlag(fs)
	if err := parse(fs, args, endpoint); err != nil {
		return err
	}
	rs, closeConn, err := dial(*endpoint)
	if err != nil {
		return err
	}
	defer closeConn()
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	ctrs, err := rs.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	cancel()
	if err != nil && status.Code(err) != codes.Unimplemented {
		errs = append(errs, fmt.Errorf("list containers: %w", err))
	}
	for _, c := range ctrs.GetContainers() {
		errs = append(errs, removeContainer(rs, c.GetId()))
	}
	ctx, cancel = context.WithTimeout(context.Background(), rpcTimeout)
	pods, err := rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	cancel()
	if err != nil && status.Code(err) != codes.Unimplemented {
		errs = append(errs, fmt.Errorf("list pod sandboxes: %w", err))
	}
	for _, p := range pods.GetItems() {
		errs = append(errs, removePod(rs, p.GetId()))
	}
	fmt.Fprintf(out, "cleanup: %d containers and %d pod sandboxes were left; removed them\n", len(ctrs.GetContainers()), len(pods.GetItems()))
	return errors.Join(errs...)
}

func removeContainer(rs runtimeapi.RuntimeServiceClient, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	if _, err := rs.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 0}); err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	if _, err := rs.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}
