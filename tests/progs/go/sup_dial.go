// sup_dial: a plain Go TCP client for tests/supervise_*.t (built by the test with go build,
// standard library only). Go's runtime makes its own system calls: no preload reaches them.
//
//	sup_dial HOST:PORT          one connect; "connect=0 keepalive=K idle=I intvl=V cnt=C" read
//	                            back from the kernel, or "connect=-1 errno=N" (the errno number)
//	sup_dial HOST:PORT hold MS  the same, then keeps the connection open MS milliseconds
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
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
