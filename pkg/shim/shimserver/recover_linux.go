package shimserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
)

// Recover loads the containers a previous shim of this pod recorded. It is
// called once at start-up, before the API is served. A container whose
// record says it exited is loaded as exited. A live one is adopted: the new
// shim is not its parent, so it watches the process through a pidfd and
// records ExitUnknown when it ends; it can still be killed and deleted
// through its executor. Records that cannot be used are reported and
// skipped: recovery never stops the shim.
func (s *Server) Recover(ctx context.Context) error {
	var errs []error
	err := s.store.Walk(shimapi.BucketContainers, func(id string, _ int, decode func(v any) error) error {
		var st shimapi.ContainerState
		if err := decode(&st); err != nil {
			return err
		}
		return s.recoverOne(ctx, st)
	}, func(id string, err error) { errs = append(errs, fmt.Errorf("recover container %s: %w", id, err)) })
	if err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *Server) recoverOne(ctx context.Context, st shimapi.ContainerState) error {
	c, err := s.reserve(st.ID)
	if err != nil {
		return err
	}
	defer close(c.ready)
	ex, err := s.executor(st.Handler)
	if err != nil {
		s.release(st.ID)
		return err
	}
	if st.Exit == nil {
		var rec shimapi.ExitRecord
		if _, err := s.store.Get(shimapi.BucketExits, st.ID, &rec); err == nil {
			st.Exit, st.Status = &rec, shimapi.StatusExited
		}
	}
	c.mu.Lock()
	c.state, c.exec = st, ex
	c.mu.Unlock()
	if st.Status == shimapi.StatusExited {
		close(c.exited)
		return nil
	}
	c.mu.Lock()
	c.state.Adopted = true
	c.mu.Unlock()
	pidfd, err := unix.PidfdOpen(st.Pid, 0)
	if err == nil {
		if status, ok := s.stillOurs(ctx, ex, st); ok {
			c.mu.Lock()
			// The record may predate a start the dead shim did not persist.
			c.state.Status = status
			c.mu.Unlock()
			c.oom = oomCounterOf(st.Pid)
			go s.watchAdopted(c, pidfd)
			return nil
		}
	}
	if err == nil {
		_ = unix.Close(pidfd)
	}
	// Gone while no shim watched: record what we know.
	s.recordAdoptedExit(c, time.Now())
	return nil
}

// stillOurs checks with the executor that the recorded pid is still the
// container's init, not a recycled pid, and returns its status.
func (s *Server) stillOurs(ctx context.Context, ex runtime.Executor, st shimapi.ContainerState) (shimapi.Status, bool) {
	rs, err := ex.State(ctx, st.ID)
	if err != nil || rs.Pid != st.Pid {
		return "", false
	}
	switch rs.Status {
	case runtime.StatusCreated:
		return shimapi.StatusCreated, true
	case runtime.StatusRunning, runtime.StatusPaused:
		return shimapi.StatusRunning, true
	}
	return "", false
}

// watchAdopted waits for the adopted init to end (the pidfd becomes
// readable) and records its exit.
func (s *Server) watchAdopted(c *container, pidfd int) {
	defer unix.Close(pidfd)
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == nil || !errors.Is(err, unix.EINTR) {
			break
		}
	}
	s.recordAdoptedExit(c, time.Now())
}

func (s *Server) recordAdoptedExit(c *container, at time.Time) {
	s.killOrphans(c)
	c.mu.Lock()
	rec := &shimapi.ExitRecord{ID: c.state.ID, Pid: c.state.Pid, ExitCode: shimapi.ExitUnknown, ExitedAt: at, OOMKilled: c.oom.Count() > 0}
	c.state.Status = shimapi.StatusExited
	c.state.Exit = rec
	c.mu.Unlock()
	if err := s.store.Put(shimapi.BucketExits, rec.ID, shimapi.RecordVersion, rec); err != nil {
		fmt.Fprintf(os.Stderr, "shim: record exit of container %s: %v\n", rec.ID, err)
	}
	if err := s.persist(c); err != nil {
		fmt.Fprintf(os.Stderr, "shim: %v\n", err)
	}
	close(c.exited)
	s.events.add(shimapi.Event{Type: shimapi.EventExited, ID: rec.ID, Pid: rec.Pid, ExitCode: rec.ExitCode, OOMKilled: rec.OOMKilled})
}
