package cri

import (
	"encoding/json"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// This file converts domain objects to CRI messages. Configs given at
// creation are reported back from the stored CRI config.

func toCRISandboxState(st sandbox.State) runtimeapi.PodSandboxState {
	if st == sandbox.StateReady {
		return runtimeapi.PodSandboxState_SANDBOX_READY
	}
	return runtimeapi.PodSandboxState_SANDBOX_NOTREADY
}

func fromCRISandboxState(st runtimeapi.PodSandboxState) sandbox.State {
	if st == runtimeapi.PodSandboxState_SANDBOX_READY {
		return sandbox.StateReady
	}
	return sandbox.StateNotReady
}

func toCRIPodSandbox(sb *sandbox.Sandbox) *runtimeapi.PodSandbox {
	return &runtimeapi.PodSandbox{
		Id:             sb.ID,
		Metadata:       sb.Config.GetMetadata(),
		State:          toCRISandboxState(sb.Status().State),
		CreatedAt:      sb.CreatedAt.UnixNano(),
		Labels:         sb.Config.GetLabels(),
		Annotations:    sb.Config.GetAnnotations(),
		RuntimeHandler: sb.RuntimeHandler,
	}
}

func toCRIPodSandboxStatus(sb *sandbox.Sandbox) *runtimeapi.PodSandboxStatus {
	st := &runtimeapi.PodSandboxStatus{
		Id:        sb.ID,
		Metadata:  sb.Config.GetMetadata(),
		State:     toCRISandboxState(sb.Status().State),
		CreatedAt: sb.CreatedAt.UnixNano(),
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{
			Options: sb.Config.GetLinux().GetSecurityContext().GetNamespaceOptions(),
		}},
		Labels:         sb.Config.GetLabels(),
		Annotations:    sb.Config.GetAnnotations(),
		RuntimeHandler: sb.RuntimeHandler,
	}
	if sb.Network.IP != "" {
		st.Network = &runtimeapi.PodSandboxNetworkStatus{Ip: sb.Network.IP}
		for _, ip := range sb.Network.AdditionalIPs {
			st.Network.AdditionalIps = append(st.Network.AdditionalIps, &runtimeapi.PodIP{Ip: ip})
		}
	}
	return st
}

// sandboxInfo is the verbose PodSandboxStatus info: where the pod lives on
// the host, for debugging.
func sandboxInfo(sb *sandbox.Sandbox) (map[string]string, error) {
	info, err := json.Marshal(map[string]any{
		"stateDir":       sb.StateDir,
		"namespaces":     sb.Namespaces,
		"files":          sb.Files,
		"cgroupPath":     sb.CgroupPath,
		"runtimeHandler": sb.RuntimeHandler,
		"config":         sb.Config,
	})
	if err != nil {
		return nil, err
	}
	return map[string]string{"info": string(info)}, nil
}

var containerStates = map[container.State]runtimeapi.ContainerState{
	container.StateCreated: runtimeapi.ContainerState_CONTAINER_CREATED,
	container.StateRunning: runtimeapi.ContainerState_CONTAINER_RUNNING,
	container.StateExited:  runtimeapi.ContainerState_CONTAINER_EXITED,
}

func toCRIContainerState(st container.State) runtimeapi.ContainerState {
	if s, ok := containerStates[st]; ok {
		return s
	}
	return runtimeapi.ContainerState_CONTAINER_UNKNOWN
}

// fromCRIContainerState returns false for CONTAINER_UNKNOWN, which no
// container of ours is in.
func fromCRIContainerState(st runtimeapi.ContainerState) (container.State, bool) {
	for k, v := range containerStates {
		if v == st {
			return k, true
		}
	}
	return "", false
}

// containerImageSpec names the image as the config did, except that an
// image ID (the kubelet creates containers from IDs) becomes the image's
// first repo tag, as containerd reports it.
func containerImageSpec(c *container.Container) *runtimeapi.ImageSpec {
	name := c.Config.GetImage().GetImage()
	if c.Image.Name != "" && (name == c.Image.ID || "sha256:"+name == c.Image.ID) {
		name = c.Image.Name
	}
	return &runtimeapi.ImageSpec{
		Image:              name,
		Annotations:        c.Config.GetImage().GetAnnotations(),
		UserSpecifiedImage: c.Config.GetImage().GetUserSpecifiedImage(),
		RuntimeHandler:     c.Config.GetImage().GetRuntimeHandler(),
	}
}

func containerImageRef(c *container.Container) string {
	if c.Image.RepoRef != "" {
		return c.Image.RepoRef
	}
	return c.Image.ID
}

func toCRIContainer(c *container.Container) *runtimeapi.Container {
	return &runtimeapi.Container{
		Id:           c.ID,
		PodSandboxId: c.PodID,
		Metadata:     c.Config.GetMetadata(),
		Image:        containerImageSpec(c),
		ImageRef:     containerImageRef(c),
		ImageId:      c.Image.ID,
		State:        toCRIContainerState(c.Status().State),
		CreatedAt:    c.CreatedAt.UnixNano(),
		Labels:       c.Config.GetLabels(),
		Annotations:  c.Config.GetAnnotations(),
	}
}

func unixNano(t interface{ UnixNano() int64 }, zero bool) int64 {
	if zero {
		return 0
	}
	return t.UnixNano()
}

func toCRIContainerStatus(c *container.Container) *runtimeapi.ContainerStatus {
	st := c.Status()
	out := &runtimeapi.ContainerStatus{
		Id:          c.ID,
		Metadata:    c.Config.GetMetadata(),
		State:       toCRIContainerState(st.State),
		CreatedAt:   c.CreatedAt.UnixNano(),
		StartedAt:   unixNano(st.StartedAt, st.StartedAt.IsZero()),
		FinishedAt:  unixNano(st.FinishedAt, st.FinishedAt.IsZero()),
		ExitCode:    st.ExitCode,
		Image:       containerImageSpec(c),
		ImageRef:    containerImageRef(c),
		ImageId:     c.Image.ID,
		Reason:      st.Reason,
		Message:     st.Message,
		Labels:      c.Config.GetLabels(),
		Annotations: c.Config.GetAnnotations(),
		Mounts:      containerMounts(c),
		LogPath:     c.LogPath,
		StopSignal:  toCRISignal(c.StopSignal),
	}
	if r := c.Resources(); r != nil {
		out.Resources = &runtimeapi.ContainerResources{Linux: r}
	}
	if p := c.Process; p != nil {
		u := &runtimeapi.LinuxContainerUser{Uid: int64(p.User.UID), Gid: int64(p.User.GID)}
		for _, g := range p.User.AdditionalGids {
			u.SupplementalGroups = append(u.SupplementalGroups, int64(g))
		}
		out.User = &runtimeapi.ContainerUser{Linux: u}
	}
	return out
}

// sigrtmin is the first real-time signal as glibc numbers them.
const sigrtmin = 34

// containerMounts are the config's mounts, image volumes with the ID of
// the image mounted.
func containerMounts(c *container.Container) []*runtimeapi.Mount {
	mounts := c.Config.GetMounts()
	if len(c.ImageVolumes) == 0 {
		return mounts
	}
	ids := map[string]string{}
	for _, v := range c.ImageVolumes {
		ids[v.ContainerPath] = v.ImageID
	}
	out := make([]*runtimeapi.Mount, len(mounts))
	for i, m := range mounts {
		out[i] = m
		if id, ok := ids[m.GetContainerPath()]; ok && m.GetImage() != nil {
			cp := proto.Clone(m).(*runtimeapi.Mount)
			cp.Image.ImageRef = id
			out[i] = cp
		}
	}
	return out
}

func toCRISignal(sig syscall.Signal) runtimeapi.Signal {
	name := unix.SignalName(sig)
	switch {
	case sig == sigrtmin:
		name = "SIGRTMIN"
	case sig > sigrtmin:
		name = fmt.Sprintf("SIGRTMINPLUS%d", sig-sigrtmin)
	}
	// Unknown names map to the zero value, RUNTIME_DEFAULT.
	return runtimeapi.Signal(runtimeapi.Signal_value["SIGNAL_"+name])
}

// containerInfo is the verbose ContainerStatus info.
func containerInfo(c *container.Container) (map[string]string, error) {
	info, err := json.Marshal(map[string]any{
		"pid":     c.Status().Pid,
		"bundle":  c.Bundle,
		"rootfs":  c.Rootfs,
		"process": c.Process,
		"config":  c.Config,
	})
	if err != nil {
		return nil, err
	}
	return map[string]string{"info": string(info)}, nil
}
