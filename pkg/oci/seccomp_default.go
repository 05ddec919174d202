package oci

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Linux values the profile needs, spelled out so that this pure package
// builds on any GOOS (x/sys/unix has them for Linux builds only).
const (
	errnoEPERM  = 1
	errnoENOSYS = 38

	cloneNewNS     = 0x00020000
	cloneNewCgroup = 0x02000000
	cloneNewUTS    = 0x04000000
	cloneNewIPC    = 0x08000000
	cloneNewUser   = 0x10000000
	cloneNewPID    = 0x20000000
	cloneNewNet    = 0x40000000
)

// The built-in RuntimeDefault seccomp profile. It follows the profile users
// know from Docker and containerd: deny by default with EPERM, allow the
// syscalls an ordinary program needs, and allow the privileged ones only
// when the container holds the capability that the kernel would check
// anyway (so a capability added through the CRI is usable). Namespace
// creation through clone is refused without CAP_SYS_ADMIN, and clone3 (whose
// flags a filter cannot inspect) fails with ENOSYS so that libc falls back
// to clone.

// baseSyscalls are allowed for every container.
var baseSyscalls = []string{
	"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat",
	"capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime",
	"clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime",
	"clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close",
	"close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
	"epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve",
	"execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
	"fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat",
	"fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync",
	"fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
	"fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64",
	"futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake",
	"futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
	"geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
	"getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid",
	"getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32",
	"getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
	"get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr",
	"getxattrat", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
	"io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
	"io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
	"io_uring_enter", "io_uring_register", "io_uring_setup", "ipc", "kill",
	"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
	"lchown32", "lgetxattr", "link", "linkat", "listen", "listmount", "listxattr",
	"listxattrat", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat",
	"lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create",
	"memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
	"mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify",
	"mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
	"mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv",
	"msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at",
	"nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause",
	"pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
	"pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv",
	"preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64",
	"pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat",
	"readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
	"remap_file_pages", "removexattr", "removexattrat", "rename", "renameat",
	"renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
	"rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
	"rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
	"sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
	"sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
	"sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
	"sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
	"semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
	"sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
	"setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
	"setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32",
	"setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
	"set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address",
	"setuid", "setuid32", "setxattr", "setxattrat", "shmat", "shmctl", "shmdt", "shmget",
	"shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn",
	"socket", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
	"statfs64", "statmount", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
	"syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
	"timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
	"timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
	"timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
	"ugetrlimit", "umask", "uname", "unlink", "unlinkat", "uretprobe", "utime",
	"utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid",
	"waitpid", "write", "writev",
	// Allowed since kernel 4.8, where seccomp is checked again after ptrace.
	"ptrace", "process_vm_readv", "process_vm_writev",
}

// archSyscalls are extra syscalls per GOARCH.
var archSyscalls = map[string][]string{
	"amd64":   {"arch_prctl", "modify_ldt"},
	"386":     {"arch_prctl", "modify_ldt"},
	"arm":     {"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"},
	"arm64":   {"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"},
	"ppc64le": {"sync_file_range2", "swapcontext"},
	"s390x":   {"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"},
	"riscv64": {"riscv_flush_icache"},
}

// capSyscalls are allowed only when the container holds the capability.
var capSyscalls = map[string][]string{
	"CAP_DAC_READ_SEARCH": {"open_by_handle_at"},
	"CAP_SYS_ADMIN": {"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen",
		"fspick", "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree",
		"perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname",
		"setns", "syslog", "umount", "umount2", "unshare"},
	"CAP_SYS_BOOT":       {"reboot"},
	"CAP_SYS_CHROOT":     {"chroot"},
	"CAP_SYS_MODULE":     {"delete_module", "init_module", "finit_module"},
	"CAP_SYS_PACCT":      {"acct"},
	"CAP_SYS_PTRACE":     {"kcmp", "pidfd_getfd", "process_madvise"},
	"CAP_SYS_RAWIO":      {"iopl", "ioperm"},
	"CAP_SYS_TIME":       {"settimeofday", "stime", "clock_settime", "clock_settime64"},
	"CAP_SYS_TTY_CONFIG": {"vhangup"},
	"CAP_SYS_NICE":       {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"},
	"CAP_SYSLOG":         {"syslog"},
	"CAP_BPF":            {"bpf"},
	"CAP_PERFMON":        {"perf_event_open"},
}

// namespaceFlags are the clone flags that create namespaces.
const namespaceFlags = cloneNewNS | cloneNewUTS | cloneNewIPC | cloneNewUser | cloneNewPID | cloneNewNet | cloneNewCgroup

// seccompArches returns the native architecture of a GOARCH and the
// compatible ones a process can switch to.
func seccompArches(arch string) []specs.Arch {
	switch arch {
	case "amd64":
		return []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	case "386":
		return []specs.Arch{specs.ArchX86}
	case "arm64":
		return []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
	case "arm":
		return []specs.Arch{specs.ArchARM}
	case "ppc64le":
		return []specs.Arch{specs.ArchPPC64LE}
	case "s390x":
		return []specs.Arch{specs.ArchS390X, specs.ArchS390}
	case "riscv64":
		return []specs.Arch{specs.ArchRISCV64}
	case "loong64":
		return []specs.Arch{specs.ArchLOONGARCH64}
	}
	return nil
}

// DefaultSeccompProfile returns the RuntimeDefault profile for a container
// holding caps (its bounding set) on arch (a GOARCH name).
func DefaultSeccompProfile(caps []string, arch string) *specs.LinuxSeccomp {
	eperm := uint(errnoEPERM)
	p := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &eperm,
		Architectures:   seccompArches(arch),
	}
	allow := slices.Concat(baseSyscalls, archSyscalls[arch])
	p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: allow, Action: specs.ActAllow})
	p.Syscalls = append(p.Syscalls, personalityRules()...)
	for _, c := range AllCapabilities {
		if names := capSyscalls[c]; len(names) > 0 && slices.Contains(caps, c) {
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: slices.Clone(names), Action: specs.ActAllow})
		}
	}
	if !slices.Contains(caps, "CAP_SYS_ADMIN") {
		p.Syscalls = append(p.Syscalls, cloneRules(arch)...)
	}
	return p
}

// personalityRules allow only the personalities programs actually set:
// PER_LINUX, PER_LINUX32, UNAME26 variants and the query value.
func personalityRules() []specs.LinuxSyscall {
	var out []specs.LinuxSyscall
	for _, v := range []uint64{0x0, 0x0008, 0x20000, 0x20008, 0xffffffff} {
		out = append(out, specs.LinuxSyscall{
			Names:  []string{"personality"},
			Action: specs.ActAllow,
			Args:   []specs.LinuxSeccompArg{{Index: 0, Value: v, Op: specs.OpEqualTo}},
		})
	}
	return out
}

// cloneRules allow clone without namespace flags and make clone3 fail with
// ENOSYS. On s390x the flags are clone's second argument.
func cloneRules(arch string) []specs.LinuxSyscall {
	idx := uint(0)
	if arch == "s390x" || arch == "s390" {
		idx = 1
	}
	enosys := uint(errnoENOSYS)
	return []specs.LinuxSyscall{
		{
			Names:  []string{"clone"},
			Action: specs.ActAllow,
			Args:   []specs.LinuxSeccompArg{{Index: idx, Value: namespaceFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}},
		},
		{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys},
	}
}
