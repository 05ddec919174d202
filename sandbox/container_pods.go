package sandbox

import (
	"github.com/cricket-cri/cricket/sandbox/container"
)

// Pod returns pod sandbox id as its containers see it: the Service is the
// container service's container.Pods. A missing pod is ErrNotFound.
func (s *Service) Pod(id string) (container.Pod, error) {
	sb, err := s.Get(id)
	if err != nil {
		return container.Pod{}, err
	}
	return sb.containerPod(), nil
}

// containerPod converts a sandbox to what its containers need.
func (sb *Sandbox) containerPod() container.Pod {
	return container.Pod{
		ID:             sb.ID,
		StateDir:       sb.StateDir,
		RuntimeHandler: sb.RuntimeHandler,
		Config:         sb.Config,
		Namespaces:     sb.Namespaces,
		Files:          sb.Files,
		CgroupParent:   sb.CgroupPath,
		Ready:          sb.Status().State == StateReady,
		SELinux:        sb.SELinux,
	}
}
