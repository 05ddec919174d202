// Package harness runs the real processes of Cricket's daemon tests
// (test/integration, test/fault, test/kubelet): a cricketd started,
// stopped, killed and restarted on the same directories with clients and a
// log that outlive each run, any other process a test starts, and the
// image mirror the daemons pull from.
package harness
