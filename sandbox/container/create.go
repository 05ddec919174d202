package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/checkpoint"
	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/securefs"
	"github.com/cricket-cri/cricket/pkg/store"
	"github.com/cricket-cri/cricket/sandbox/internal/registrar"
)

// CreateRequest asks for a new container in a pod sandbox.
type CreateRequest struct {
	PodID  string
	Config *runtimeapi.ContainerConfig
	// Checkpoint, when set, is the directory of one container of a pod
	// checkpoint (RestorePod): the container is created from it, as from
	// an archive named by its image, and Config's image must be the
	// checkpointed one.
	Checkpoint string
	// RestoreTCPEstablished restores the established TCP connections of
	// the Checkpoint (one taken with them must be restored with them).
	RestoreTCPEstablished bool
}

// Create creates a container: its rootfs and bundle, persisted as Created.
// Its process is created only by Start. Every step is rolled back in
// reverse when a later one fails.
func (s *Service) Create(ctx context.Context, req CreateRequest) (_ *Container, retErr error) {
	cfg := req.Config
	if cfg.GetMetadata() == nil {
		return nil, fmt.Errorf("container config without metadata: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.GetImage().GetImage() == "" {
		return nil, fmt.Errorf("container config without image: %w", errdefs.ErrInvalidArgument)
	}
	pod, err := s.opts.Pods.Pod(req.PodID)
	if err != nil {
		return nil, fmt.Errorf("pod sandbox of new container: %w", err)
	}
	if !pod.Ready {
		return nil, fmt.Errorf("pod sandbox %s is not ready: %w", pod.ID, errdefs.ErrFailedPrecondition)
	}
	md := Metadata{ID: registrar.NewID(), Name: Name(cfg.GetMetadata(), pod.Config.GetMetadata()), PodID: pod.ID, Config: cfg}
	adopted, err := s.names.Reserve(ctx, md.Name, md.ID)
	if err != nil {
		return nil, fmt.Errorf("reserve container name: %w", err)
	}
	if adopted != "" {
		s.names.Done(md.Name, adopted, registrar.Answerable(ctx))
		return s.index.Get(adopted)
	}
	defer func() {
		if retErr != nil {
			s.names.Release(md.Name, md.ID)
			return
		}
		s.names.Done(md.Name, md.ID, registrar.Answerable(ctx))
	}()
	unblock := s.opts.NRI.BlockSync()
	defer unblock()
	c, err := s.create(ctx, md, pod, req)
	if err != nil {
		return nil, err
	}
	klog.FromContext(ctx).Info("container created", "containerID", c.ID, "name", c.Name, "podSandboxID", pod.ID)
	return c, nil
}

func (s *Service) create(ctx context.Context, md Metadata, pod Pod, req CreateRequest) (_ *Container, retErr error) {
	ref, archive, ckptDir := md.Config.GetImage().GetImage(), "", req.Checkpoint
	var img Image
	var err error
	switch {
	case ckptDir != "":
		img, err = s.checkpointDirImage(ctx, ckptDir, ref, pod.RuntimeHandler)
	case checkpoint.IsArchiveRef(ref):
		archive = ref
		img, err = s.checkpointImage(ctx, archive, pod.RuntimeHandler)
	default:
		img, err = s.opts.Images.Resolve(ctx, ref, pod.RuntimeHandler)
		if err == nil && img.CheckpointDir != "" {
			// An image made from a checkpoint: restore from its files.
			ckptDir = img.CheckpointDir
			img, err = s.checkpointDirImage(ctx, ckptDir, "", pod.RuntimeHandler)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("image %q of container %s: %w", ref, md.Name, err)
	}
	if img.ArtifactDir != "" {
		return nil, fmt.Errorf("image %q of container %s is an OCI artifact, which can only be mounted as an image volume: %w", md.Config.GetImage().GetImage(), md.Name, errdefs.ErrInvalidArgument)
	}
	md.Image = img
	md.Bundle = filepath.Join(s.opts.StateDir, md.ID)
	md.Rootfs = filepath.Join(md.Bundle, "rootfs")
	// The first record says where the container lives, so that a restart
	// after a crash half-way can remove it; it comes before the bundle dir
	// (found by test/fault: a crash in between leaked the dir).
	if err := s.persist(md, Status{State: stateCreating}); err != nil {
		return nil, err
	}
	// The record goes last, once the bundle is gone; a bundle whose
	// removal failed keeps it, for the next start to try again.
	defer undo(ctx, &retErr, "delete record", func(context.Context) error {
		if _, err := os.Lstat(md.Bundle); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("keep record of container %s for the next start: its bundle %s is still there", md.ID, md.Bundle)
		}
		return s.opts.Store.Delete(bucket, md.ID)
	})
	defer undo(ctx, &retErr, "remove bundle", func(context.Context) error { return securefs.RemoveAllUnmounted(md.Bundle) })
	if err := os.MkdirAll(md.Rootfs, 0o711); err != nil {
		return nil, fmt.Errorf("create bundle of container %s: %w", md.ID, err)
	}
	switch {
	case archive != "":
		md.Restore, err = unpackCheckpoint(ctx, archive, md.Bundle)
	case ckptDir != "":
		md.Restore, err = copyCheckpoint(ckptDir, md.Bundle, req.RestoreTCPEstablished)
	}
	if err != nil {
		return nil, err
	}

	// The labels come first: the rootfs and the image volumes are mounted
	// with the mount label (found in the enforcing test/vm node: mounted
	// without it, every container was refused its entrypoint).
	labels, err := s.opts.Spec.SELinuxLabels(ctx, md.Config, pod)
	if err != nil {
		return nil, fmt.Errorf("selinux labels of container %s: %w", md.ID, err)
	}

	// Unmounting is idempotent, so it is deferred before the mount: a
	// mount that fails half-way leaves nothing.
	defer undo(ctx, &retErr, "unmount rootfs", func(c context.Context) error { return s.opts.Rootfs.Unmount(c, md.ID, md.Rootfs) })
	if err := s.mountRootfs(ctx, md, pod, labels.Mount); err != nil {
		return nil, err
	}
	if md.Restore != nil {
		if err := checkpoint.ApplyRootfsDiff(ctx, md.Restore.WorkPath, md.Rootfs); err != nil {
			return nil, fmt.Errorf("rootfs changes of the checkpoint of container %s: %w", md.ID, err)
		}
	}

	defer undo(ctx, &retErr, "unmount image volumes", func(c context.Context) error { return s.unmountImageVolumes(c, md) })
	if md.ImageVolumes, err = s.mountImageVolumes(ctx, md, pod.RuntimeHandler, labels.Mount); err != nil {
		return nil, err
	}

	defer undo(ctx, &retErr, "unmount host paths", func(context.Context) error { return s.unpinHostMounts(md) })
	sources, err := s.pinHostMounts(md)
	if err != nil {
		return nil, err
	}
	for p, src := range mountSources(md.ImageVolumes) {
		sources[p] = src
	}

	target, err := s.targetPIDNamespace(md.Config)
	if err != nil {
		return nil, err
	}
	spec, err := s.opts.Spec.Build(ctx, SpecInput{
		ID: md.ID, Config: md.Config, Pod: pod, Image: img, Rootfs: md.Rootfs,
		TargetPIDNamespace: target, MountSources: sources, SELinux: labels,
	})
	if err != nil {
		return nil, fmt.Errorf("build OCI spec of container %s: %w", md.ID, err)
	}
	// Plugins adjust the final spec, before anything reads it.
	pending := newContainer(md, Status{State: stateCreating}, nil)
	if err := s.opts.NRI.CreateContainer(ctx, pending, spec); err != nil {
		return nil, fmt.Errorf("NRI CreateContainer of container %s: %w", md.ID, err)
	}
	defer undo(ctx, &retErr, "tell NRI plugins the container is gone", func(c context.Context) error { return s.nriForget(c, pending) })
	if err := writeSpec(md.Bundle, spec); err != nil {
		return nil, err
	}
	md.Process = spec.Process
	if md.StopSignal, err = stopSignal(md.Config, img); err != nil {
		return nil, err
	}
	if md.LogPath, err = logPath(pod, md.Config); err != nil {
		return nil, err
	}
	md.CreatedAt = time.Now()
	c := newContainer(md, Status{State: StateCreated}, s.persist)
	c.changed = s.changed
	if err := s.persist(md, c.status); err != nil {
		return nil, err
	}
	s.index.Add(md.ID, c)
	s.publish(runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT, c)
	if err := s.opts.NRI.PostCreateContainer(ctx, c); err != nil {
		klog.FromContext(ctx).Error(err, "NRI PostCreateContainer failed", "containerID", c.ID)
	}
	return c, nil
}

// mountRootfs mounts the container's rootfs with its SELinux mount label,
// idmapped through the pod's user namespace when it has one.
func (s *Service) mountRootfs(ctx context.Context, md Metadata, pod Pod, mountLabel string) error {
	var err error
	if pod.Namespaces.User == "" {
		err = s.opts.Rootfs.Mount(ctx, md.ID, md.Image, md.Rootfs, mountLabel)
	} else {
		var ids *oci.IDMappings
		if ids, err = oci.PodUserNamespace(pod.Config.GetLinux().GetSecurityContext().GetNamespaceOptions(), true); err == nil && ids == nil {
			err = fmt.Errorf("pod %s has a user namespace but no mappings in its config: %w", pod.ID, errdefs.ErrFailedPrecondition)
		}
		if err == nil {
			idm := RootfsIDMap{UsernsPath: pod.Namespaces.User, RootUID: ids.RootUID(), RootGID: ids.RootGID()}
			err = s.opts.Rootfs.MountIDMapped(ctx, md.ID, md.Image, md.Rootfs, mountLabel, idm)
		}
	}
	if err != nil {
		return fmt.Errorf("mount rootfs of container %s: %w", md.ID, err)
	}
	return nil
}

// nriForget tells NRI plugins that a container they were told of is gone.
func (s *Service) nriForget(ctx context.Context, c *Container) error {
	return errors.Join(s.opts.NRI.StopContainer(ctx, c), s.opts.NRI.RemoveContainer(ctx, c))
}

// targetPIDNamespace is the pid namespace of the running container that
// pid mode TARGET names.
func (s *Service) targetPIDNamespace(cfg *runtimeapi.ContainerConfig) (string, error) {
	o := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	if o.GetPid() != runtimeapi.NamespaceMode_TARGET {
		return "", nil
	}
	t, err := s.index.Get(o.GetTargetId())
	if err != nil {
		return "", fmt.Errorf("target container of pid namespace: %w", err)
	}
	st := t.Status()
	if st.State != StateRunning || st.Pid == 0 {
		return "", fmt.Errorf("target container %s is %s: %w", t.ID, st.State, errdefs.ErrFailedPrecondition)
	}
	return fmt.Sprintf("/proc/%d/ns/pid", st.Pid), nil
}

func writeSpec(bundle string, spec *specs.Spec) error {
	data, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("encode OCI spec: %w", err)
	}
	return store.WriteFileAtomic(filepath.Join(bundle, "config.json"), data, 0o600)
}

// logPath is the container's CRI log file: the pod's log directory joined
// with the container's log path, or empty when either is unset. The CRI
// says the log path is relative to the directory; one that is absolute or
// climbs out of it with ".." is refused.
func logPath(pod Pod, cfg *runtimeapi.ContainerConfig) (string, error) {
	dir, p := pod.Config.GetLogDirectory(), cfg.GetLogPath()
	if dir == "" || p == "" {
		return "", nil
	}
	if !filepath.IsLocal(p) {
		return "", fmt.Errorf("log path %q is not relative to the pod log directory: %w", p, errdefs.ErrInvalidArgument)
	}
	return filepath.Join(dir, p), nil
}

// stopSignal is the one the CRI config asks for, else the image's, else
// SIGTERM.
func stopSignal(cfg *runtimeapi.ContainerConfig, img Image) (syscall.Signal, error) {
	if sig := cfg.GetStopSignal(); sig != runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT {
		return parseSignal(strings.TrimPrefix(sig.String(), "SIGNAL_"))
	}
	if img.Config.StopSignal != "" {
		return parseSignal(img.Config.StopSignal)
	}
	return syscall.SIGTERM, nil
}

// sigrtmin is the first real-time signal as glibc numbers them (the C
// library keeps 32 and 33 for itself).
const sigrtmin = 34

// parseSignal accepts "SIGTERM", "TERM", "SIGRTMIN+3" or a number, as image
// configs do.
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if off, ok := strings.CutPrefix(name, "SIGRTMIN+"); ok {
		if n, err := strconv.Atoi(off); err == nil && n >= 0 && sigrtmin+n < 65 {
			return syscall.Signal(sigrtmin + n), nil
		}
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("stop signal %q: %w", s, errdefs.ErrInvalidArgument)
}
