// The network workloads of gobench: echo and idleconn (run like the others),
// and the servers bench/run.sh loads with wrk for the http workload:
//
//	gobench http-nethttp <port>   net/http, Handler writing "Hello, World!\n"
//	gobench http-raw <port>       goroutine per connection on net.Listener,
//	                              bufio reader, hand-written response
//
// Both serve on 127.0.0.1:<port> until killed. `gobench idleconn-client`
// is idleconn's client process (started by idleconn itself).
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const echoConns, echoMsg = 100, 64

// echo: 100 connections over loopback, server and clients in this process,
// a goroutine per connection on both sides; each client makes N/100 round
// trips of 64 bytes. ns per round trip, from all connected to all done;
// echoCPU gets the process's CPU time per round trip over the same interval.
func echo(n int64) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	var served sync.WaitGroup
	served.Add(echoConns)
	go func() {
		for i := 0; i < echoConns; i++ {
			c, err := ln.Accept()
			if err != nil {
				fmt.Fprintf(os.Stderr, "echo: accept: %v\n", err)
				os.Exit(1)
			}
			go func(c net.Conn) {
				defer served.Done()
				defer c.Close()
				buf := make([]byte, echoMsg)
				for {
					k, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:k]); err != nil {
						return
					}
				}
			}(c)
		}
	}()
	perConn := (n + echoConns - 1) / echoConns
	addr := ln.Addr().String()
	var connected, done sync.WaitGroup
	start := make(chan struct{})
	var bad, trips int64
	connected.Add(echoConns)
	done.Add(echoConns)
	for i := 0; i < echoConns; i++ {
		go func(id int) {
			defer done.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				fmt.Fprintf(os.Stderr, "echo: dial: %v\n", err)
				os.Exit(1)
			}
			defer c.Close()
			out := bytes.Repeat([]byte{byte('a' + id%26)}, echoMsg)
			in := make([]byte, echoMsg)
			connected.Done()
			<-start
			for j := int64(0); j < perConn; j++ {
				out[0] = byte(j)
				if _, err := c.Write(out); err != nil {
					atomic.AddInt64(&bad, 1)
					return
				}
				if _, err := io.ReadFull(c, in); err != nil || !bytes.Equal(in, out) {
					atomic.AddInt64(&bad, 1)
					return
				}
				atomic.AddInt64(&trips, 1)
			}
		}(i)
	}
	connected.Wait()
	c0 := cpuNS()
	t0 := time.Now()
	close(start)
	done.Wait()
	el := time.Since(t0)
	c1 := cpuNS()
	served.Wait()
	total := perConn * echoConns
	if bad != 0 || trips != total {
		return 0, fmt.Errorf("%d round trips failed, %d done (want %d)", bad, trips, total)
	}
	echoCPU = float64(c1-c0) / float64(total)
	return perOp(el, total), nil
}

var echoCPU float64

// cpuNS: CPU time (user + system, every thread) of the process, in ns.
func cpuNS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// idleconn: bytes of RSS per idle connection on the server side. The
// clients are a separate process (this program again, as idleconn-client),
// so only the server's share is in this process's RSS; see bench/README.md.
func idleconn(n int64) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	var arrived, sawEOF int64
	var served sync.WaitGroup
	served.Add(int(n))

	before := vmRSSKB()
	go func() {
		for i := int64(0); i < n; i++ {
			c, err := ln.Accept()
			if err != nil {
				fmt.Fprintf(os.Stderr, "idleconn: accept: %v\n", err)
				os.Exit(1)
			}
			go func(c net.Conn) { // the echo handler, parked in Read
				defer served.Done()
				defer c.Close()
				buf := make([]byte, echoMsg)
				atomic.AddInt64(&arrived, 1)
				for {
					k, err := c.Read(buf)
					if err == io.EOF {
						atomic.AddInt64(&sawEOF, 1)
					}
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:k]); err != nil {
						return
					}
				}
			}(c)
		}
	}()
	cmd := exec.Command(os.Args[0], "idleconn-client", ln.Addr().String(), strconv.FormatInt(n, 10))
	cmd.Stderr = os.Stderr
	toChild, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	fromChild, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(fromChild).ReadString('\n')
	if err != nil || line != "connected\n" {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, fmt.Errorf("the client process failed to connect")
	}
	deadline := time.Now().Add(60 * time.Second)
	for atomic.LoadInt64(&arrived) < n {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			return 0, fmt.Errorf("only %d of %d connections served after 60 s", atomic.LoadInt64(&arrived), n)
		}
		runtime.Gosched()
	}
	settle := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(settle) {
		runtime.Gosched()
	}
	live := runtime.NumGoroutine()
	after := vmRSSKB()

	toChild.Close() // the client process exits: every connection ends
	cerr := cmd.Wait()
	served.Wait()
	if before < 0 || after < 0 {
		return 0, fmt.Errorf("cannot read VmRSS from /proc/self/status")
	}
	if int64(live) < n+1 || sawEOF != n || cerr != nil {
		return 0, fmt.Errorf("%d goroutines live (want >= %d), %d saw end of file (want %d), client: %v",
			live, n+1, sawEOF, n, cerr)
	}
	return float64(after-before) * 1024 / float64(n), nil
}

// idleconnClient: connect n times to addr, say so on stdout, keep every
// connection open until stdin ends, then exit (closing them all).
func idleconnClient(addr string, n int64) {
	conns := make([]net.Conn, 0, n)
	for i := int64(0); i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "idleconn client: connection %d: %v\n", i, err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	fmt.Println("connected")
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

var helloBody = []byte("Hello, World!\n")

// httpNetHTTP: the standard library's server, as a Go programmer writes it.
func httpNetHTTP(port string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(helloBody)
	})
	return http.ListenAndServe("127.0.0.1:"+port, mux)
}

// httpRaw: a goroutine per connection on a raw listener: requests are read
// with a bufio.Reader (request line and headers up to the empty line; GET
// without a body, as wrk sends), responses appended to a bufio.Writer that
// is flushed when no further request is already buffered (pipelining-safe).
func httpRaw(port string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go serveRaw(c)
	}
}

func serveRaw(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	var date []byte
	var dateSec int64 = -1
	for {
		closeAfter := false
		first := true
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return
			}
			if first {
				first = false
				if bytes.HasSuffix(bytes.TrimRight(line, "\r\n"), []byte("HTTP/1.0")) {
					closeAfter = true
				}
				continue
			}
			if len(line) <= 2 { // "\r\n": end of the headers
				break
			}
			if len(line) > 11 && bytes.EqualFold(line[:11], []byte("connection:")) {
				v := bytes.TrimSpace(line[11:])
				if bytes.EqualFold(v, []byte("close")) {
					closeAfter = true
				} else if bytes.EqualFold(v, []byte("keep-alive")) {
					closeAfter = false
				}
			}
		}
		now := time.Now()
		if now.Unix() != dateSec {
			dateSec = now.Unix()
			date = now.UTC().AppendFormat(date[:0], http.TimeFormat)
		}
		w.WriteString("HTTP/1.1 200 OK\r\nServer: raw\r\nDate: ")
		w.Write(date)
		w.WriteString("\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n")
		w.Write(helloBody)
		if closeAfter {
			w.Flush()
			return
		}
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

// netMain handles the modes that are not workloads; false: not one of them.
func netMain(args []string) bool {
	if len(args) < 2 {
		return false
	}
	var err error
	switch args[1] {
	case "idleconn-client":
		if len(args) != 4 {
			usage()
		}
		n, e := strconv.ParseInt(args[3], 10, 64)
		if e != nil || n <= 0 {
			usage()
		}
		idleconnClient(args[2], n)
	case "http-nethttp", "http-raw":
		if len(args) != 3 {
			usage()
		}
		if args[1] == "http-nethttp" {
			err = httpNetHTTP(args[2])
		} else {
			err = httpRaw(args[2])
		}
		fmt.Fprintf(os.Stderr, "gobench %s: %v\n", args[1], err)
		os.Exit(1)
	default:
		return false
	}
	return true
}
