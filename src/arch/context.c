/* arch/context.c — building the first frame of a fresh goroutine stack, and
 * reading a switched-out frame. The layouts mirror switch_<arch>.S. */
#include "arch/arch.h"

#include <stdint.h>
#include <string.h>

void garch_entry(void);

#if defined(__x86_64__)

enum { FRAME_WORDS = 8 }; /* fpctl, r15, r14, r13, r12, rbx, rbp, ret */

void *garch_init_stack(void *top, void (*fn)(void *), void *arg) {
    uintptr_t t = (uintptr_t)top & ~(uintptr_t)15;
    /* After garch_switch's final ret pops the return address, rsp must be
     * 16-byte aligned (garch_entry then makes an aligned call). */
    uint64_t *sp = (uint64_t *)(t - FRAME_WORDS * 8);
    uint32_t fpctl[2] = {0x1f80u /* MXCSR default */, 0x037fu /* x87 CW default */};
    memcpy(&sp[0], fpctl, 8);
    sp[1] = 0;                  /* r15 */
    sp[2] = 0;                  /* r14 */
    sp[3] = (uint64_t)(uintptr_t)arg; /* r13 */
    sp[4] = (uint64_t)(uintptr_t)fn;  /* r12 */
    sp[5] = 0;                  /* rbx */
    sp[6] = 0;                  /* rbp */
    sp[7] = (uint64_t)(uintptr_t)garch_entry;
    return sp;
}

void *garch_saved_pc(void *sp) { return (void *)((uint64_t *)sp)[7]; }
void *garch_saved_fp(void *sp) { return (void *)((uint64_t *)sp)[6]; }

#elif defined(__aarch64__)

void *garch_init_stack(void *top, void (*fn)(void *), void *arg) {
    uintptr_t t = (uintptr_t)top & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(t - 176);
    memset(sp, 0, 176);
    sp[0] = (uint64_t)(uintptr_t)fn;  /* x19 */
    sp[1] = (uint64_t)(uintptr_t)arg; /* x20 */
    sp[10] = 0;                       /* x29 */
    sp[11] = (uint64_t)(uintptr_t)garch_entry; /* x30 */
    sp[20] = 0;                       /* fpcr: round to nearest, no traps */
    return sp;
}

void *garch_saved_pc(void *sp) { return (void *)((uint64_t *)sp)[11]; }
void *garch_saved_fp(void *sp) { return (void *)((uint64_t *)sp)[10]; }

#else
#error "goc: unsupported architecture (x86_64 and aarch64 are supported)"
#endif
