package shim

import (
	"context"
	"os"
	"time"
)

// maxBlock bounds how long one blocking call (Wait, Events) holds the
// connection; clients loop, so an abandoned call costs the shim little.
const maxBlock = 30 * time.Second

// WaitRequest waits for a container's exit for at most Timeout (capped at
// maxBlock); the reply's Status tells whether it exited.
type WaitRequest struct {
	ID      string
	Timeout time.Duration
}

// service adapts Server to net/rpc's method shape. Every error crosses the
// socket encoded with its errdefs class.
type service struct {
	s        *Server
	shutdown func()
}

func (v *service) Info(_ Empty, reply *Info) error {
	*reply = Info{PodID: v.s.cfg.PodID, Pid: os.Getpid(), StateDir: v.s.cfg.StateDir}
	return nil
}

func (v *service) Create(req CreateRequest, reply *ContainerState) error {
	defer v.s.trim.Poke()
	st, err := v.s.Create(context.Background(), req)
	if err != nil {
		return encodeErr(err)
	}
	*reply = *st
	return nil
}

func (v *service) Start(req IDRequest, reply *ContainerState) error {
	defer v.s.trim.Poke()
	st, err := v.s.Start(context.Background(), req.ID)
	if err != nil {
		return encodeErr(err)
	}
	*reply = *st
	return nil
}

func (v *service) Kill(req KillRequest, _ *Empty) error {
	defer v.s.trim.Poke()
	return encodeErr(v.s.Kill(context.Background(), req))
}

func (v *service) Delete(req DeleteRequest, reply *ContainerState) error {
	defer v.s.trim.Poke()
	st, err := v.s.Delete(context.Background(), req)
	if err != nil {
		return encodeErr(err)
	}
	if st != nil {
		*reply = *st
	}
	return nil
}

func (v *service) State(req IDRequest, reply *ContainerState) error {
	defer v.s.trim.Poke()
	st, err := v.s.State(req.ID)
	if err != nil {
		return encodeErr(err)
	}
	*reply = *st
	return nil
}

func (v *service) List(_ Empty, reply *ListResponse) error {
	defer v.s.trim.Poke()
	reply.Containers = v.s.List()
	return nil
}

func (v *service) Wait(req WaitRequest, reply *ContainerState) error {
	defer v.s.trim.Poke()
	timeout := req.Timeout
	if timeout <= 0 || timeout > maxBlock {
		timeout = maxBlock
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := v.s.Wait(ctx, req.ID)
	if ctx.Err() != nil {
		// Not exited yet: report the current state, the client loops.
		st, err = v.s.State(req.ID)
	}
	if err != nil {
		return encodeErr(err)
	}
	*reply = *st
	return nil
}

func (v *service) Events(req EventsRequest, reply *EventsResponse) error {
	defer v.s.trim.Poke()
	wait := req.Wait
	if wait > maxBlock {
		wait = maxBlock
	}
	*reply = v.s.events.since(context.Background(), req.After, wait)
	return nil
}

func (v *service) Exec(req ExecRequest, reply *ExecResult) error {
	defer v.s.trim.Poke()
	res, err := v.s.Exec(context.Background(), req)
	if err != nil {
		return encodeErr(err)
	}
	*reply = *res
	return nil
}

func (v *service) Pids(req IDRequest, reply *PidsResponse) error {
	pids, err := v.s.Pids(context.Background(), req.ID)
	if err != nil {
		return encodeErr(err)
	}
	reply.Pids = pids
	return nil
}

func (v *service) Update(req UpdateRequest, _ *Empty) error {
	return encodeErr(v.s.Update(context.Background(), req))
}

func (v *service) ReopenLog(req IDRequest, _ *Empty) error {
	return encodeErr(v.s.ReopenLog(req.ID))
}

func (v *service) Shutdown(req ShutdownRequest, _ *Empty) error {
	if err := v.s.Shutdown(context.Background(), req); err != nil {
		return encodeErr(err)
	}
	// Exit after net/rpc has sent this reply.
	go func() {
		time.Sleep(50 * time.Millisecond)
		v.shutdown()
	}()
	return nil
}
