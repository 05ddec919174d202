package podinit

// The pod init is a C constructor, like libcontainer's nsenter: it runs
// before the Go runtime starts, so a pod that shares a pid namespace pays
// for a few pages of C rather than a Go runtime. Without cgo, the Go init
// in podinit_linux.go serves the entry point instead.

/*
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((constructor)) static void cricket_podinit(int argc, char **argv) {
	if (argc < 2 || strcmp(argv[1], "__podinit") != 0)
		return;
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
