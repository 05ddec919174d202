package runtime

import (
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// unclaimedTTL bounds how long the exit of a pid nobody waits for is kept:
// long enough for a caller that just learned the pid to ask for it, short
// enough that orphans reparented to the subreaper cannot pile up.
const unclaimedTTL = 2 * time.Minute

// Reaper collects the exit status of every child of the process (the shim is
// a child subreaper, so that includes orphans from inside its containers).
//
// Code that starts a child and waits for that specific child itself (exec.Cmd,
// libcontainer's internal waits) must call Hold first and release it after
// the wait; while any holder is active the reaper does not call wait4(-1),
// which would otherwise steal the exit from the specific waiter.
type Reaper struct {
	hold sync.RWMutex

	mu        sync.Mutex
	subs      map[int][]chan Exit
	unclaimed map[int]Exit
	started   bool
}

// NewReaper returns a reaper; call Start to begin collecting. A process
// must run at most one started reaper (two would steal each other's exits):
// use ProcessReaper unless a test needs one that never starts.
func NewReaper() *Reaper {
	return &Reaper{subs: map[int][]chan Exit{}, unclaimed: map[int]Exit{}}
}

// processReaper exists from the start so that HoldReaper works before (and
// whether or not) anything starts it.
var processReaper = NewReaper()

// ProcessReaper returns the process's reaper, started.
func ProcessReaper() *Reaper {
	processReaper.Start()
	return processReaper
}

// HoldReaper holds the process's reaper, started or not, while the caller
// runs a child it waits for itself (exec.Cmd.Run, Output), so that code
// outside the executors can spawn children safely in a process that reaps.
func HoldReaper() (release func()) { return processReaper.Hold() }

// Start begins reaping on every SIGCHLD. It is idempotent.
func (r *Reaper) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return
	}
	r.started = true
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGCHLD)
	go func() {
		// A periodic pass catches a SIGCHLD that coalesced with one whose
		// pass had already finished its wait4 loop.
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ch:
			case <-t.C:
			}
			r.Reap()
		}
	}()
	go r.Reap()
}

// Hold stops wait4(-1) until the returned release function is called.
func (r *Reaper) Hold() (release func()) {
	r.hold.RLock()
	return r.hold.RUnlock
}

// Reap collects every child that has exited. Start calls it on SIGCHLD.
func (r *Reaper) Reap() {
	r.hold.Lock()
	defer r.hold.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		r.deliver(exitOf(pid, ws))
	}
}

func exitOf(pid int, ws unix.WaitStatus) Exit {
	e := Exit{Pid: pid, Time: time.Now()}
	switch {
	case ws.Signaled():
		e.Signal = ws.Signal()
		e.Status = 128 + int(e.Signal)
	default:
		e.Status = ws.ExitStatus()
	}
	return e
}

func (r *Reaper) deliver(e Exit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if subs, ok := r.subs[e.Pid]; ok {
		delete(r.subs, e.Pid)
		for _, ch := range subs {
			ch <- e
		}
		return
	}
	for pid, old := range r.unclaimed {
		if e.Time.Sub(old.Time) > unclaimedTTL {
			delete(r.unclaimed, pid)
		}
	}
	r.unclaimed[e.Pid] = e
}

// Wait returns a channel that receives pid's exit once.
func (r *Reaper) Wait(pid int) <-chan Exit {
	ch := make(chan Exit, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.unclaimed[pid]; ok {
		delete(r.unclaimed, pid)
		ch <- e
		return ch
	}
	r.subs[pid] = append(r.subs[pid], ch)
	return ch
}

// SetSubreaper makes the calling process the child subreaper of its
// descendants (prctl PR_SET_CHILD_SUBREAPER).
func SetSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl(PR_SET_CHILD_SUBREAPER, 1)", err)
	}
	return nil
}
