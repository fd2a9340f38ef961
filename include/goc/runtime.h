/* goc/runtime.h — goroutines and the runtime (Go's `go` statement and package runtime).
 *
 * Included by <goc.h>; see docs/ and ../shared API contract for the full semantics.
 *
 * A goroutine may resume on a different OS thread after ANY blocking goc call
 * (channel operation, lock, sleep, yield, wait). Do not keep the address of a
 * thread-local variable (or errno) across such a call; goc itself reports
 * errors as negative errno return values, never through errno. Use
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

#if defined(__GNUC__)
#define GOC_API __attribute__((visibility("default")))
#define GOC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GOC_API
#define GOC_PRINTF(a, b)
#endif

/* Durations and times: int64_t nanoseconds on the monotonic clock. */
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

/* go fn(arg). Returns 0, -ENOMEM (no memory for the goroutine) or -EAGAIN
 * (no OS thread could be started for the runtime). Works from goroutines and
 * from plain threads; starts the runtime on first use. */
GOC_API int goc_go(void (*fn)(void *arg), void *arg);

/* As goc_go, but copies `size` bytes at `args` into the new goroutine, which
 * receives a pointer to its own copy (valid until it returns). The caller's
 * buffer may go away as soon as goc_go_args returns. */
GOC_API int goc_go_args(void (*fn)(void *args), const void *args, size_t size);

/* The general form: copy `args_size` bytes of args (args_size 0: pass `args`
 * itself, as goc_go does) and give the goroutine a stack of `stack_size` bytes
 * of virtual memory (0: GOC_STACK_DEFAULT). A stack overflow is always
 * detected and reported as a fatal error naming the goroutine. */
GOC_API int goc_go_sized(void (*fn)(void *args), const void *args, size_t args_size,
                         size_t stack_size);

/* GOC_GO(fn, type, ...): go fn(&(type){...}) with the compound literal copied. */
#define GOC_GO(fn, type, ...) goc_go_args((fn), &(type){__VA_ARGS__}, sizeof(type))

/* Run fn(arg) as the main goroutine, block the calling thread until it
 * returns, and return its value. If the main goroutine and every other
 * goroutine are blocked for good, goc reports Go's deadlock error. */
GOC_API int goc_run(int (*fn)(void *arg), void *arg);

GOC_API void goc_yield(void);                 /* runtime.Gosched */
GOC_API _Noreturn void goc_exit(void);        /* runtime.Goexit */
GOC_API uint64_t goc_id(void);                /* goroutine id; 0 on a plain thread */
GOC_API int goc_num_goroutine(void);          /* runtime.NumGoroutine */
GOC_API int goc_maxprocs(int n);              /* runtime.GOMAXPROCS: n<=0 queries; returns previous */
GOC_API void goc_lock_os_thread(void);        /* runtime.LockOSThread (nests, as in Go) */
GOC_API void goc_unlock_os_thread(void);
GOC_API void goc_set_name(const char *name);  /* copied; shown in dumps and panics */

/* panic(fmt...): prints "panic: <message>", then "goroutine N [running]:" and
 * a symbolized backtrace to stderr, then aborts the process. */
GOC_API _Noreturn void goc_panic(const char *fmt, ...) GOC_PRINTF(1, 2);

/* Write every goroutine to fd: id, name, state, wait reason and how long it
 * has waited, and its backtrace, in the shape of Go's traceback. SIGQUIT
 * prints the same to stderr and exits with status 2, as in Go. */
GOC_API void goc_dump(int fd);

/* Text for a negative errno value returned by goc (Go's text for the
 * context errors). */
GOC_API const char *goc_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* GOC_RUNTIME_H */
