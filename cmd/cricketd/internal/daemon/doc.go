// Package daemon is cricketd's composition of the pod and container
// services: it builds them over the real lower layers (namespaces, pod
// files, cgroups, the per-pod shim, images, snapshots, OCI specs) and
// adapts each to the narrow interface its consumer declares. It holds
// construction and adapters only; the logic it wires lives in the packages
// it adapts.
package daemon
