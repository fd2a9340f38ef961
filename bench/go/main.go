// Command gobench runs the Go side of goc's benchmark workloads (see
// bench/README.md). Usage:
//
//	gobench <workload> [N]
//
// It prints one line, in the same format as the C programs in bench/c/:
//
//	name=<name> value=<number> unit=<ns/op|ms|B/goroutine> rss_kb=<peak RSS>
//
// and exits 1 if the workload's result fails validation.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type workload struct {
	defN int64
	unit string
	run  func(n int64) (float64, error)
}

var workloads = map[string]workload{
	"spawn":       {1000000, "ns/op", spawn},
	"yield":       {10000000, "ns/op", yield},
	"pingpong":    {1000000, "ns/op", pingpong},
	"buffered":    {10000000, "ns/op", buffered},
	"select":      {1000000, "ns/op", selectBench},
	"skynet":      {1000000, "ms", skynetBench},
	"parked":      {100000, "B/goroutine", parked},
	"mutex":       {1000000, "ns/op", func(n int64) (float64, error) { return mutexBench(n, false) }},
	"mutex_yield": {1000000, "ns/op", func(n int64) (float64, error) { return mutexBench(n, true) }},
	"ctx_tree":    {1000, "ns/op", ctxTree},
	"ctx_cancel":  {1000000, "ns/op", ctxCancel},
	"dump":        {10000, "ms", dumpBench},
	"fairness":    {200, "ms", fairness},
	"echo":        {100000, "ns/op", echo},
	"idleconn":    {8000, "B/conn", idleconn},
}

// ctx_tree: a WithCancel root with 1,000 WithCancel children, then cancel
// the root; N rounds, every child checked and every cancel func called.
func ctxTree(n int64) (float64, error) {
	const kids = 1000
	ctxs := make([]context.Context, kids)
	cancels := make([]context.CancelFunc, kids)
	t0 := time.Now()
	for r := int64(0); r < n; r++ {
		root, cancel := context.WithCancel(context.Background())
		for i := range ctxs {
			ctxs[i], cancels[i] = context.WithCancel(root)
		}
		cancel()
		for i := range ctxs {
			if ctxs[i].Err() != context.Canceled {
				return 0, fmt.Errorf("child %d not canceled", i)
			}
			cancels[i]()
		}
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n), nil
}

// ctx_cancel: context.WithCancel(background) + cancel(), N times.
func ctxCancel(n int64) (float64, error) {
	bad := 0
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		c, cancel := context.WithCancel(context.Background())
		cancel()
		if c.Err() != context.Canceled {
			bad++
		}
	}
	el := time.Since(t0)
	if bad != 0 {
		return 0, fmt.Errorf("%d contexts not canceled", bad)
	}
	return float64(el.Nanoseconds()) / float64(n), nil
}

func main() {
	if netMain(os.Args) {
		return
	}
	if len(os.Args) < 2 || len(os.Args) > 3 {
		usage()
	}
	name := os.Args[1]
	w, ok := workloads[name]
	if !ok {
		usage()
	}
	n := w.defN
	if len(os.Args) == 3 {
		v, err := strconv.ParseInt(os.Args[2], 10, 64)
		if err != nil || v <= 0 {
			usage()
		}
		n = v
	}
	warmup()
	value, err := w.run(n)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: FAILED: %v\n", name, err)
		os.Exit(1)
	}
	extra := ""
	if name == "echo" {
		extra = fmt.Sprintf(" cpu_ns=%.1f", echoCPU)
	}
	if name == "fairness" {
		extra = fmt.Sprintf(" p99_ms=%.3f", fairnessP99)
	}
	fmt.Printf("name=%s value=%.3f unit=%s rss_kb=%d%s\n", name, value, w.unit, peakRSSKB(), extra)
}

func usage() {
	names := make([]string, 0, len(workloads))
	for k := range workloads {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: gobench <%s> [N>0]\n", strings.Join(names, "|"))
	os.Exit(2)
}

// warmup spawns, runs and waits for one goroutine before the clock starts,
// as the C programs do.
func warmup() {
	var wg sync.WaitGroup
	wg.Add(1)
	go wg.Done()
	wg.Wait()
}

func peakRSSKB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return int64(ru.Maxrss) // KiB on Linux
}

func vmRSSKB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line[len("VmRSS:"):])
			if len(fields) > 0 {
				if v, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
					return v
				}
			}
		}
	}
	return -1
}

func perOp(d time.Duration, ops int64) float64 {
	return float64(d.Nanoseconds()) / float64(ops)
}

// spawn: N goroutines that do nothing but mark a WaitGroup done; wait.
func spawn(n int64) (float64, error) {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go wg.Done()
	}
	wg.Wait()
	return perOp(time.Since(t0), n), nil
}

// yield: two goroutines each call Gosched N/2 times, on 1 processor.
func yield(n int64) (float64, error) {
	runtime.GOMAXPROCS(1)
	if n < 2 {
		n = 2
	}
	half := n / 2
	var yields int64
	var wg sync.WaitGroup
	worker := func() {
		for i := int64(0); i < half; i++ {
			runtime.Gosched()
		}
		atomic.AddInt64(&yields, half)
		wg.Done()
	}
	t0 := time.Now()
	wg.Add(2)
	go worker()
	go worker()
	wg.Wait()
	d := time.Since(t0)
	if got := atomic.LoadInt64(&yields); got != 2*half {
		return 0, fmt.Errorf("%d yields, want %d", got, 2*half)
	}
	return perOp(d, 2*half), nil
}

// pingpong: main sends i on A, a worker receives it and sends it back on B.
func pingpong(n int64) (float64, error) {
	a := make(chan int64)
	b := make(chan int64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		for v := range a {
			b <- v
		}
		wg.Done()
	}()
	var sum, bad int64
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		a <- i
		v, ok := <-b
		if !ok || v != i {
			bad++
		}
		sum += v
	}
	d := time.Since(t0)
	close(a)
	wg.Wait()
	if want := n * (n - 1) / 2; bad != 0 || sum != want {
		return 0, fmt.Errorf("%d wrong replies, sum %d want %d", bad, sum, want)
	}
	return perOp(d, n), nil
}

// buffered: a producer sends 0..N-1 on a channel of capacity 128 and closes
// it; main receives and sums.
func buffered(n int64) (float64, error) {
	c := make(chan int64, 128)
	var sum, count int64
	t0 := time.Now()
	go func() {
		for i := int64(0); i < n; i++ {
			c <- i
		}
		close(c)
	}()
	for v := range c {
		sum += v
		count++
	}
	d := time.Since(t0)
	if want := n * (n - 1) / 2; count != n || sum != want {
		return 0, fmt.Errorf("received %d items summing to %d, want %d summing to %d",
			count, sum, n, want)
	}
	return perOp(d, n), nil
}

// select: two producers send N/2 values each on their own unbuffered channel;
// main selects over both receives.
func selectBench(n int64) (float64, error) {
	half := n / 2
	if half < 1 {
		half = 1
	}
	a := make(chan int64)
	b := make(chan int64)
	producer := func(c chan<- int64) {
		for i := int64(0); i < half; i++ {
			c <- i
		}
	}
	total := 2 * half
	var sum, fromA, fromB int64
	t0 := time.Now()
	go producer(a)
	go producer(b)
	for i := int64(0); i < total; i++ {
		select {
		case v, ok := <-a:
			if ok {
				fromA++
			}
			sum += v
		case v, ok := <-b:
			if ok {
				fromB++
			}
			sum += v
		}
	}
	d := time.Since(t0)
	if want := half * (half - 1); fromA != half || fromB != half || sum != want {
		return 0, fmt.Errorf("%d+%d messages summing to %d, want %d+%d summing to %d",
			fromA, fromB, sum, half, half, want)
	}
	return perOp(d, total), nil
}

func skynet(parent chan<- int64, num, size int64) {
	if size == 1 {
		parent <- num
		return
	}
	rc := make(chan int64)
	sub := size / 10
	for i := int64(0); i < 10; i++ {
		go skynet(rc, num+i*sub, sub)
	}
	var sum int64
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	parent <- sum
}

// skynet: a 10-ary tree of goroutines with N leaves (1,000,000: 1,111,111
// goroutines); leaves send their number up, parents sum. Reported in ms.
func skynetBench(leaves int64) (float64, error) {
	p := int64(1)
	for p < leaves {
		p *= 10
	}
	if p != leaves {
		return 0, fmt.Errorf("the number of leaves must be a power of 10, not %d", leaves)
	}
	c := make(chan int64)
	t0 := time.Now()
	go skynet(c, 0, leaves)
	sum := <-c
	d := time.Since(t0)
	if want := leaves * (leaves - 1) / 2; sum != want {
		return 0, fmt.Errorf("sum %d, want %d", sum, want)
	}
	return float64(d.Nanoseconds()) / 1e6, nil
}

// parked: VmRSS before spawning N goroutines and once all of them are blocked
// receiving from one channel; bytes per goroutine. Each goroutine bumps a
// counter just before its receive; main yields until the counter reaches N,
// then keeps yielding for a 50 ms settle period (the same method as the C
// program, so both sides are measured alike).
func parked(n int64) (float64, error) {
	c := make(chan struct{})
	var wg sync.WaitGroup
	var arrived, wokeClosed int64
	before := vmRSSKB()
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func() {
			atomic.AddInt64(&arrived, 1)
			if _, ok := <-c; !ok {
				atomic.AddInt64(&wokeClosed, 1)
			}
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&arrived) < n {
		runtime.Gosched()
	}
	settleEnd := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(settleEnd) {
		runtime.Gosched()
	}
	live := runtime.NumGoroutine()
	after := vmRSSKB()
	close(c)
	wg.Wait()
	if before < 0 || after < 0 {
		return 0, fmt.Errorf("cannot read VmRSS from /proc/self/status")
	}
	if int64(live) < n+1 || atomic.LoadInt64(&wokeClosed) != n {
		return 0, fmt.Errorf("%d goroutines live while parked (want %d), %d woken by the close (want %d)",
			live, n+1, atomic.LoadInt64(&wokeClosed), n)
	}
	return float64(after-before) * 1024 / float64(n), nil
}

// dump: N goroutines blocked receiving from one channel (established as in
// parked), then Go's full goroutine profile, pprof.Lookup("goroutine").
// WriteTo(io.Discard, 2) (the text of a SIGQUIT dump), dumpRounds times;
// ms per dump. The same method as the C program's goc_dump to /dev/null.
const dumpRounds = 10

func dumpBench(n int64) (float64, error) {
	c := make(chan struct{})
	var wg sync.WaitGroup
	var arrived, wokeClosed int64
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func() {
			atomic.AddInt64(&arrived, 1)
			if _, ok := <-c; !ok {
				atomic.AddInt64(&wokeClosed, 1)
			}
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&arrived) < n {
		runtime.Gosched()
	}
	settleEnd := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(settleEnd) {
		runtime.Gosched()
	}
	live := runtime.NumGoroutine()
	prof := pprof.Lookup("goroutine")
	t0 := time.Now()
	for i := 0; i < dumpRounds; i++ {
		if err := prof.WriteTo(io.Discard, 2); err != nil {
			return 0, err
		}
	}
	el := time.Since(t0)
	close(c)
	wg.Wait()
	if int64(live) < n+1 || atomic.LoadInt64(&wokeClosed) != n {
		return 0, fmt.Errorf("%d goroutines live while parked (want %d), %d woken by the close (want %d)",
			live, n+1, atomic.LoadInt64(&wokeClosed), n)
	}
	return float64(el.Nanoseconds()) / 1e6 / dumpRounds, nil
}

// mutex / mutex_yield: 4 goroutines x N times lock; counter++; [Gosched;]
// unlock on one sync.Mutex. Reported per lock+unlock.
func mutexBench(n int64, yieldInside bool) (float64, error) {
	const workers = 4
	var mu sync.Mutex
	var counter int64
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			for i := int64(0); i < n; i++ {
				mu.Lock()
				counter++
				if yieldInside {
					runtime.Gosched()
				}
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	mu.Lock()
	got := counter
	mu.Unlock()
	if got != workers*n {
		return 0, fmt.Errorf("counter %d, want %d", got, workers*n)
	}
	return perOp(d, workers*n), nil
}

// fairnessP99 is the 99th-percentile lateness of the fairness workload's
// sleeps that overlapped the spin, in ms.
var fairnessP99 float64

// fairness: on 1 processor, one goroutine spins (at most 3 s, never
// blocking: a relaxed load of the stop flag, the clock every 1024 rounds)
// while another sleeps 1 ms N times and notes each sleep's interval. The
// sleeper starts the spinner itself, so that the spinner takes the
// processor as soon as the first sleep begins. Reported: the worst
// lateness in ms, and fairnessP99 (over the sleeps whose interval meets
// the spinner's: one after the spinner gave up at its limit measures
// nothing).
func fairness(n int64) (float64, error) {
	runtime.GOMAXPROCS(1)
	var stop int32
	var spins, spinStart, spinEnd int64
	var wg sync.WaitGroup
	tBegin := make([]int64, n)
	tEnd := make([]int64, n)
	base := time.Now()
	now := func() int64 { return int64(time.Since(base)) }
	spinner := func() {
		defer wg.Done()
		end := time.Now().Add(3 * time.Second)
		atomic.StoreInt64(&spinStart, now())
		var i int64
		for atomic.LoadInt32(&stop) == 0 {
			i++
			if i&0x3ff == 0 && time.Now().After(end) {
				break
			}
		}
		atomic.StoreInt64(&spinEnd, now())
		atomic.StoreInt64(&spins, i)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		wg.Add(1)
		go spinner()
		for i := int64(0); i < n; i++ {
			tBegin[i] = now()
			time.Sleep(time.Millisecond)
			tEnd[i] = now()
		}
		atomic.StoreInt32(&stop, 1)
	}()
	wg.Wait()
	if atomic.LoadInt64(&spins) <= 0 {
		return 0, fmt.Errorf("the spinner never ran")
	}
	s0, s1 := atomic.LoadInt64(&spinStart), atomic.LoadInt64(&spinEnd)
	var late []int64
	var worst int64
	for i := int64(0); i < n; i++ {
		l := tEnd[i] - tBegin[i] - int64(time.Millisecond)
		if l < -100000 {
			return 0, fmt.Errorf("sleep %d ended %.3f ms early", i, float64(-l)/1e6)
		}
		if l > worst {
			worst = l
		}
		if tEnd[i] >= s0 && tBegin[i] <= s1 {
			late = append(late, l)
		}
	}
	m := int64(len(late))
	if m == 0 {
		return 0, fmt.Errorf("no sleep overlapped the spin")
	}
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	k := (m*99+99)/100 - 1 // nearest rank: ceil(0.99 m) - 1
	fairnessP99 = float64(late[k]) / 1e6
	fmt.Fprintf(os.Stderr, "fairness: %d sleeps of 1 ms, %d overlapped the %.0f ms spin; "+
		"worst %.3f ms, p99 (overlapping) %.3f ms, median (overlapping) %.3f ms\n",
		n, m, float64(s1-s0)/1e6, float64(worst)/1e6, fairnessP99, float64(late[m/2])/1e6)
	return float64(worst) / 1e6, nil
}
