//go:build tools

// Package kubeletbuild pins the kubelet command so that `go mod tidy` keeps
// every module it needs in go.sum.
package kubeletbuild

import _ "k8s.io/kubernetes/cmd/kubelet"
