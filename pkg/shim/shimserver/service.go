package shimserver

import (
	"context"
	"os"
	"time"

	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
)

// service adapts Server to net/rpc's method shape. Every error crosses the
// socket encoded with its errdefs class.
type service struct {
	s        *Server
	shutdown func()
}

func (v *service) Info(_ shimapi.Empty, reply *shimapi.Info) error {
	*reply = shimapi.Info{PodID: v.s.cfg.PodID, Pid: os.Getpid(), StateDir: v.s.cfg.StateDir}
	return nil
}

func (v *service) Create(req shimapi.CreateRequest, reply *shimapi.ContainerState) error {
	defer v.s.trim.Poke()
	st, err := v.s.Create(context.Background(), req)
	if err != nil {
		return shimapi.EncodeError(err)
	}
	*reply = *st
	return nil
}

func (v *service) Start(req shimapi.IDRequest, reply *shimapi.ContainerState) error {
	defer v.s.trim.Poke()
	st, err := v.s.Start(context.Background(), req.ID)
	if err != nil {
		return shimapi.EncodeError(err)
	}
	*reply = *st
	return nil
}

func (v *service) Kill(req shimapi.KillRequest, _ *shimapi.Empty) error {
	defer v.s.trim.Poke()
	return shimapi.EncodeError(v.s.Kill(context.Background(), req))
}

func (v *service) Delete(req shimapi.DeleteRequest, reply *shimapi.ContainerState) error {
	defer v.s.trim.Poke()
	st, err := v.s.Delete(context.Background(), req)
	if err != nil {
		return shimapi.EncodeError(err)
	}
	if st != nil {
		*reply = *st
	}
	return nil
}

func (v *service) State(req shimapi.IDRequest, reply *shimapi.ContainerState) error {
	defer v.s.trim.Poke()
	st, err := v.s.State(req.ID)
	if err != nil {
		return shimapi.EncodeError(err)
	}
	*reply = *st
	return nil
}

func (v *service) List(_ shimapi.Empty, reply *shimapi.ListResponse) error {
	defer v.s.trim.Poke()
	reply.Containers = v.s.List()
	return nil
}

func (v *service) Wait(req shimapi.WaitRequest, reply *shimapi.ContainerState) error {
	defer v.s.trim.Poke()
	timeout := req.Timeout
	if timeout <= 0 || timeout > shimapi.MaxBlock {
		timeout = shimapi.MaxBlock
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := v.s.Wait(ctx, req.ID)
	if ctx.Err() != nil {
		// Not exited yet: report the current state, the client loops.
		st, err = v.s.State(req.ID)
	}
	if err != nil {
		return shimapi.EncodeError(err)
	}
	*reply = *st
	return nil
}

func (v *service) Events(req shimapi.EventsRequest, reply *shimapi.EventsResponse) error {
	defer v.s.trim.Poke()
	wait := req.Wait
	if wait > shimapi.MaxBlock {
		wait = shimapi.MaxBlock
	}
	*reply = v.s.events.since(context.Background(), req.After, wait)
	return nil
}

func (v *service) Exec(req shimapi.ExecRequest, reply *shimapi.ExecResult) error {
	defer v.s.trim.Poke()
	res, err := v.s.Exec(context.Background(), req)
	if err != nil {
		return shimapi.EncodeError(err)
	}
	*reply = *res
	return nil
}

func (v *service) Pids(req shimapi.IDRequest, reply *shimapi.PidsResponse) error {
	pids, err := v.s.Pids(context.Background(), req.ID)
	if err != nil {
		return shimapi.EncodeError(err)
	}
	reply.Pids = pids
	return nil
}

func (v *service) Update(req shimapi.UpdateRequest, _ *shimapi.Empty) error {
	return shimapi.EncodeError(v.s.Update(context.Background(), req))
}

func (v *service) Checkpoint(req shimapi.CheckpointRequest, _ *shimapi.Empty) error {
	return shimapi.EncodeError(v.s.Checkpoint(context.Background(), req))
}

func (v *service) Pause(req shimapi.IDRequest, _ *shimapi.Empty) error {
	return shimapi.EncodeError(v.s.Pause(context.Background(), req.ID))
}

func (v *service) Resume(req shimapi.IDRequest, _ *shimapi.Empty) error {
	return shimapi.EncodeError(v.s.Resume(context.Background(), req.ID))
}

func (v *service) ReopenLog(req shimapi.IDRequest, _ *shimapi.Empty) error {
	return shimapi.EncodeError(v.s.ReopenLog(req.ID))
}

func (v *service) Shutdown(req shimapi.ShutdownRequest, _ *shimapi.Empty) error {
	if err := v.s.Shutdown(context.Background(), req); err != nil {
		return shimapi.EncodeError(err)
	}
	// Exit after net/rpc has sent this reply.
	go func() {
		time.Sleep(50 * time.Millisecond)
		v.shutdown()
	}()
	return nil
}
