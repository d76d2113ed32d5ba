package main

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// What the kernel holds for sockets is not in any process's RSS. These
// readers give the figures loadgen reports next to the server's: system
// wide, so they count both ends of every loopback connection, and any
// other work on the machine that opens or closes sockets meanwhile.

// vmRSS returns the resident memory of process pid in bytes, or -1.
func vmRSS(pid int) int64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return -1
				}
				return kb << 10
			}
		}
	}
	return -1
}

// tcpMemBytes returns the pages the kernel has charged to TCP socket
// buffers, machine wide (the "mem" of /proc/net/sockstat's TCP line), in
// bytes, or -1.
func tcpMemBytes() int64 {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "TCP:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		for i := 0; i+1 < len(f); i += 2 {
			if f[i] == "mem" {
				pages, err := strconv.ParseInt(f[i+1], 10, 64)
				if err != nil {
					return -1
				}
				return pages * int64(os.Getpagesize())
			}
		}
	}
	return -1
}

// socketSlabCaches are the slab caches that grow by an object or two per
// TCP socket: the socket itself (TCP), its inode, file and dentry, and its
// epoll entries and wait-queue hooks.
var socketSlabCaches = []string{"TCP", "sock_inode_cache", "filp", "dentry", "eventpoll_epi", "eventpoll_pwq"}

// socketSlabBytes returns the bytes of the objects in use in
// socketSlabCaches, machine wide (active_objs × objsize from
// /proc/slabinfo, readable by root only), or -1. Objects freed by earlier
// runs but kept in their slabs do not count.
func socketSlabBytes() int64 {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return -1
	}
	var total int64
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !slices.Contains(socketSlabCaches, f[0]) {
			continue
		}
		objs, err1 := strconv.ParseInt(f[1], 10, 64)
		size, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		total += objs * size
		found = true
	}
	if !found {
		return -1
	}
	return total
}

// kernelMem is a reading of the machine-wide kernel socket memory.
type kernelMem struct{ tcpMem, slab int64 }

func readKernelMem() kernelMem { return kernelMem{tcpMemBytes(), socketSlabBytes()} }

// localPorts returns how many ephemeral ports one local address has for
// connections to one server address (net.ipv4.ip_local_port_range).
func localPorts() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 28232 // the Linux default, 32768–60999
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 28232
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 28232
	}
	return hi - lo + 1
}

// raiseFileLimit raises the soft limit on open files to the hard limit and
// returns the limit in force.
func raiseFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
		}
	}
	return rl.Cur
}
