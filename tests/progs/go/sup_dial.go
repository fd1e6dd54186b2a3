// sup_dial: a plain Go TCP client for tests/supervise_*.t (built by the test with go build,
// standard library only). Go's runtime makes its own system calls: no preload reaches them.
//
//	sup_dial HOST:PORT          one connect; "connect=0 keepalive=K idle=I intvl=V cnt=C" read
//	                            back from the kernel, or "connect=-1 errno=N" (the errno number)
//	sup_dial HOST:PORT hold MS  the same, then keeps the connection open MS milliseconds
//	sup_dial serve PORTFILE N   listens on 127.0.0.1 (a free port, written to PORTFILE), accepts
//	                            N times: "accept=ok keepalive=K idle=I peer=IP" or
//	                            "accept=-1 errno=N"
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

func serve() {
	// KeepAlive -1: no keepalive of Go's own on accepted connections either.
	lc := net.ListenConfig{KeepAlive: -1}
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Printf("listen=-1 error=%v\n", err)
		os.Exit(1)
	}
	port := l.Addr().(*net.TCPAddr).Port
	os.WriteFile(os.Args[2]+".tmp", []byte(fmt.Sprintf("%d\n", port)), 0o644)
	os.Rename(os.Args[2]+".tmp", os.Args[2])
	n, _ := strconv.Atoi(os.Args[3])
	for i := 0; i < n; i++ {
		c, err := l.Accept()
		if err != nil {
			var errno syscall.Errno
			if errors.As(err, &errno) {
				fmt.Printf("accept=-1 errno=%d\n", int(errno))
			} else {
				fmt.Printf("accept=-1 error=%v\n", err)
			}
			continue
		}
		raw, _ := c.(*net.TCPConn).SyscallConn()
		var ka, idle int
		raw.Control(func(fd uintptr) {
			ka, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
			idle, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		})
		fmt.Printf("accept=ok keepalive=%d idle=%d peer=%s\n", ka, idle, c.RemoteAddr().(*net.TCPAddr).IP)
		c.Close()
	}
}

func main() {
	if len(os.Args) > 3 && os.Args[1] == "serve" {
		serve()
		return
	}
	// KeepAlive -1: Go sets no keepalive of its own, so what is read back is what was forced.
	d := net.Dialer{KeepAlive: -1, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", os.Args[1])
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			fmt.Printf("connect=-1 errno=%d\n", int(errno))
		} else {
			fmt.Printf("connect=-1 error=%v\n", err)
		}
		return
	}
	raw, _ := c.(*net.TCPConn).SyscallConn()
	var ka, idle, intvl, cnt int
	raw.Control(func(fd uintptr) {
		ka, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		idle, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		intvl, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)
		cnt, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
	})
	fmt.Printf("connect=0 keepalive=%d idle=%d intvl=%d cnt=%d\n", ka, idle, intvl, cnt)
	if len(os.Args) > 3 && os.Args[2] == "hold" {
		ms, _ := strconv.Atoi(os.Args[3])
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	c.Close()
}
