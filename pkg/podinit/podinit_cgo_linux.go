package podinit

// The pod init is a C constructor, like libcontainer's nsenter: it runs
// before the Go runtime starts, so a pod that shares a pid namespace pays
// for a few pages of C rather than a Go runtime. Without cgo, the Go init
// in podinit_linux.go serves the entry point instead.

/*
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

// unshare_ipc does what CRICKET_PODINIT_IPC_FD asks (Options.UnshareIPC):
// as the root of the user namespace (Start made it so before the exec),
// make a new IPC namespace, whose mqueue filesystem so belongs to that
// root; then say so on the fd.
static void unshare_ipc(void) {
	const char *v = getenv("CRICKET_PODINIT_IPC_FD");
	if (v == NULL)
		return;
	int fd = atoi(v);
	if (unshare(CLONE_NEWIPC) != 0)
		_exit(1);
	char b = 1;
	if (write(fd, &b, 1) != 1)
		_exit(1);
	close(fd);
}

__attribute__((constructor)) static void cricket_podinit(int argc, char **argv) {
	if (argc < 2 || strcmp(argv[1], "__podinit") != 0)
		return;
	unshare_ipc();
	// A tag is the pod's namespace dir: gone already, the pod was torn
	// down while this init was on its way (its starter was killed). Only
	// its absence counts: a user namespace's init may not search the path.
	struct stat st;
	if (argc > 2 && stat(argv[2], &st) != 0 && errno == ENOENT)
		_exit(0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		int sig;
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig != SIGCHLD)
			_exit(0);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}
*/
import "C"
