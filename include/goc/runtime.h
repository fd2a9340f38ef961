/* goc/runtime.h — goroutines and the runtime (Go's `go` statement and package runtime).
 *
 * Included by <goc.h>. docs/reference.md describes every call in full;
 * docs/go-to-c.md maps Go constructs to goc.
 *
 * Errors: calls that return int report failures as negative errno values
 * (0 or a non-negative value is success) and never set errno for you to
 * read. Constructors that return a pointer return NULL and set errno, as
 * malloc does; they never block, so errno is read on the same thread.
 * Programming errors are panics, as in Go.
 *
 * A goroutine may resume on a different OS thread after ANY blocking goc call
 * (channel operation, lock, sleep, yield, wait). Do not keep the address of a
 * thread-local variable (or errno) across such a call. Use
 * goc_lock_os_thread() when a goroutine must stay on one thread.
 */
#ifndef GOC_RUNTIME_H
#define GOC_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* GOC_API marks the exported functions (default visibility); GOC_PRINTF(a, b)
 * lets the compiler check a printf-style format (argument a) against its
 * arguments (from b). Both expand to nothing on compilers other than gcc and
 * clang. */
#if defined(__GNUC__)
#define GOC_API __attribute__((visibility("default")))
#define GOC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GOC_API
#define GOC_PRINTF(a, b)
#endif

/* The headers are C11 and also C++11 (g++, clang++), with the same layout
 * and the same C ABI in both languages:
 *   GOC_NORETURN  C11's _Noreturn; in C++ the noreturn attribute.
 *   GOC_ATOMIC(T) the type of a private field that goc accesses atomically:
 *                 C11's _Atomic(T); in C++ a plain T aligned as C11 aligns
 *                 _Atomic(T) (C++11 has no _Atomic). A C++ program never
 *                 touches these fields itself: the goc calls do.
 * In C++ the macros that make values (GOC_GO, GOC_SEND, GOC_RECV) use
 * C++ forms instead of C's compound literals; they are used the same way. */
#ifdef __cplusplus
#if defined(__GNUC__)
#define GOC_NORETURN __attribute__((noreturn))
#else
#define GOC_NORETURN [[noreturn]]
#endif
#define GOC_ATOMIC(T) alignas(sizeof(T)) T
#else
#define GOC_NORETURN _Noreturn
#define GOC_ATOMIC(T) _Atomic(T)
#endif

/* Durations and times: int64_t nanoseconds on the monotonic clock (Go's
 * time.Duration). GOC_NANOSECOND ... GOC_MINUTE are Go's time.Nanosecond ...
 * time.Minute: 5 * GOC_SECOND is time's 5 * time.Second. */
typedef int64_t goc_duration;
#define GOC_NANOSECOND ((goc_duration)1)
#define GOC_MICROSECOND ((goc_duration)1000)
#define GOC_MILLISECOND ((goc_duration)1000000)
#define GOC_SECOND ((goc_duration)1000000000)
#define GOC_MINUTE ((goc_duration)60000000000)

/* Default virtual size of a goroutine stack (only touched pages cost memory). */
#define GOC_STACK_DEFAULT ((size_t)256 * 1024)
/* Smallest stack goc_go_sized accepts; smaller requests are rounded up. */
#define GOC_STACK_MIN ((size_t)16 * 1024)
/* Largest stack goc_go_sized accepts (Go's limit on 64-bit systems, 1 GB);
 * larger requests fail with -EINVAL. */
#define GOC_STACK_MAX ((size_t)1 << 30)
/* Most processors goc_maxprocs and GOCMAXPROCS can set. */
#define GOC_MAXPROCS_MAX 256

/* go fn(arg): start fn(arg) in a new goroutine and return at once (the
 * caller may be descheduled briefly when its run queue is full). arg is
 * passed as is: what it points to must stay valid while fn uses it.
 * Returns 0, -EINVAL (fn is NULL), -ENOMEM (no memory for the goroutine) or
 * -EAGAIN (no OS thread could be started for the runtime). Works from
 * goroutines and from plain threads; starts the runtime on first use. */
GOC_API int goc_go(void (*fn)(void *arg), void *arg);

/* As goc_go, but copies `size` bytes at `args` into the new goroutine, which
 * receives a pointer to its own copy (valid until it returns): Go's closure
 * capture by value. The caller's buffer may go away as soon as goc_go_args
 * returns. size 0: fn receives NULL. Copies of up to 64 bytes need no
 * allocation. Returns as goc_go. */
GOC_API int goc_go_args(void (*fn)(void *args), const void *args, size_t size);

/* The general form: copy `args_size` bytes of args (args_size 0: pass `args`
 * itself, as goc_go does) and give the goroutine a stack of `stack_size` bytes
 * of virtual memory (0: GOC_STACK_DEFAULT; smaller than GOC_STACK_MIN: that
 * minimum; rounded up to whole pages). Stacks do not grow: a stack overflow
 * is detected and reported as a fatal error naming the goroutine. Returns
 * as goc_go (-ENOMEM also when the stack cannot be mapped; -EINVAL when
 * stack_size exceeds GOC_STACK_MAX). */
GOC_API int goc_go_sized(void (*fn)(void *args), const void *args, size_t args_size,
                         size_t stack_size);

/* GOC_GO(fn, type, ...): go fn(&(type){...}) with the compound literal copied
 * into the new goroutine (goc_go_args); evaluates to goc_go_args's result.
 * The C form of `go func() { ... }()` with captured variables:
 *     GOC_GO(worker, struct job, .id = i, .out = ch);
 * In C++ the value is the temporary type{...} (designated initializers need
 * C++20, or g++'s and clang++'s extension in earlier modes). */
#ifdef __cplusplus
#define GOC_GO(fn, type, ...) goc_go_args_cxx<type>((fn), {__VA_ARGS__})
#else
#define GOC_GO(fn, type, ...) goc_go_args((fn), &(type){__VA_ARGS__}, sizeof(type))
#endif

/* Run fn(arg) as the main goroutine, block the calling thread until it
 * returns, and return its value: int main(void) { return goc_run(run, NULL); }
 * If the main goroutine and every other goroutine are blocked for good, goc
 * reports Go's deadlock error ("fatal error: all goroutines are asleep -
 * deadlock!", exit status 2). Called from a goroutine, it just calls fn(arg).
 * Returns -EINVAL (fn NULL), -ENOMEM or -EAGAIN if the main goroutine
 * cannot be started, so fn should return non-negative values. Other
 * goroutines keep running after it returns. */
GOC_API int goc_run(int (*fn)(void *arg), void *arg);

/* runtime.Gosched: let other runnable goroutines run; the caller stays
 * runnable and goes on shortly (at once when nothing else is waiting). On a
 * plain thread: sched_yield(). */
GOC_API void goc_yield(void); /* runtime.Gosched */
/* runtime.Goexit: end the calling goroutine now. Nothing of its C stack is
 * unwound: no cleanup runs (C has no defer), so first do by hand what a Go
 * defer would (unlock, goc_wg_done, release). In goc_run's main goroutine,
 * goc_run never returns; once every other goroutine is blocked or gone, the
 * deadlock error ends the process. On a plain thread it is a fatal error. */
GOC_API GOC_NORETURN void goc_exit(void); /* runtime.Goexit */
/* The calling goroutine's id (as in Go's tracebacks and dumps; ids are
 * never 0). 0 on a plain thread. Go has no public counterpart. */
GOC_API uint64_t goc_id(void); /* goroutine id; 0 on a plain thread */
/* runtime.NumGoroutine: goroutines that exist now (running, runnable or
 * blocked), goc_run's main goroutine included, plain threads not; 0 before
 * the runtime has started. A momentary count. */
GOC_API int goc_num_goroutine(void); /* runtime.NumGoroutine */
/* runtime.GOMAXPROCS: set the number of processors (goroutines running at
 * once) to n and return the previous number; n <= 0 only queries. n is
 * capped at GOC_MAXPROCS_MAX (256; a larger n says so once on stderr). The
 * initial value is GOCMAXPROCS from the environment (a positive decimal
 * integer; anything else is reported on stderr and ignored), else the
 * number of CPUs (at most GOC_MAXPROCS_MAX). Starts the runtime. */
GOC_API int goc_maxprocs(int n); /* runtime.GOMAXPROCS: n<=0 queries; returns previous */
/* runtime.LockOSThread: wire the calling goroutine to its current OS thread:
 * it resumes only there after blocking, and that thread runs no other
 * goroutine meanwhile. Calls nest. When the goroutine exits, the wiring
 * ends (Go would end the thread too). On a plain thread: does nothing. */
GOC_API void goc_lock_os_thread(void); /* runtime.LockOSThread (nests, as in Go) */
/* runtime.UnlockOSThread: undo one goc_lock_os_thread; the goroutine is free
 * to move when the count reaches 0. Without a matching lock, or on a plain
 * thread: does nothing. */
GOC_API void goc_unlock_os_thread(void);
/* Name the calling goroutine in dumps, panics and deadlock reports (Go has
 * goroutine labels for profiles; no exact counterpart). The name is copied,
 * truncated to 31 bytes; NULL or "" clears it. On a plain thread: does
 * nothing. */
GOC_API void goc_set_name(const char *name); /* copied; shown in dumps and panics */

/* panic(fmt...): prints "panic: <message>", then "goroutine N [running]:" and
 * a symbolized backtrace to stderr, then aborts the process (SIGABRT, even
 * if the program catches it). There is no recover. Works on plain threads
 * ("goroutine 0 [running, plain thread TID]:"). */
GOC_API GOC_NORETURN void goc_panic(const char *fmt, ...) GOC_PRINTF(1, 2);

/* Write every goroutine to fd: id, name, state, wait reason and how long it
 * has waited, and its backtrace, in the shape of Go's traceback (Go:
 * pprof.Lookup("goroutine").WriteTo(w, 2)). Blocks no goroutine. SIGQUIT
 * prints the same to stderr and exits with status 2, as in Go (unless the
 * program installed its own SIGQUIT handler before goc started). */
GOC_API void goc_dump(int fd);

/* Text for a negative errno value returned by goc: "context canceled" for
 * -ECANCELED and "context deadline exceeded" for -ETIMEDOUT (Go's
 * context.Canceled and DeadlineExceeded), "success" for 0, else the C
 * library's description (a positive errno is accepted too). The string is
 * static: never free it. */
GOC_API const char *goc_strerror(int err);

#ifdef __cplusplus
}

/* GOC_GO's C++ form: copies args into the new goroutine, as the C form copies
 * its compound literal. (A template: it cannot be inside extern "C".) */
template <typename T> inline int goc_go_args_cxx(void (*fn)(void *args), const T &args) {
    return goc_go_args(fn, &args, sizeof(T));
}
#endif
#endif /* GOC_RUNTIME_H */
