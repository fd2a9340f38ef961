/* arch/frame.c — building the first frame of a fresh goroutine stack, and
 * reading a switched-out frame. The layout is arch/frame.h's, which the
 * assembly (switch_<arch>.S) uses too. */
#include "arch/arch.h"

#include <stdint.h>
#include <string.h>

#include "arch/frame.h"

void garch_entry(void);

#define SLOT(sp, off) (*(uint64_t *)(void *)((char *)(sp) + (off)))

#if defined(__x86_64__)

/* One 8-byte slot each, in push order, ending with the return address. */
_Static_assert(GARCH_FRAME_X87CW == GARCH_FRAME_MXCSR + 4, "fp control words share a slot");
_Static_assert(GARCH_FRAME_R14 == GARCH_FRAME_R15 + 8 && GARCH_FRAME_R13 == GARCH_FRAME_R14 + 8 &&
                   GARCH_FRAME_R12 == GARCH_FRAME_R13 + 8 &&
                   GARCH_FRAME_RBX == GARCH_FRAME_R12 + 8 &&
                   GARCH_FRAME_RBP == GARCH_FRAME_RBX + 8 && GARCH_FRAME_RET == GARCH_FRAME_RBP + 8,
               "garch_switch pushes rbp, rbx, r12..r15 below the return address");
_Static_assert(GARCH_FRAME_R15 == 8 && GARCH_FRAME_SIZE == GARCH_FRAME_RET + 8,
               "the frame is the fp control slot, six registers and the return address");

void *garch_init_stack(void *top, void (*fn)(void *), void *arg) {
    uintptr_t t = (uintptr_t)top & ~(uintptr_t)15;
    /* After garch_switch's final ret pops the return address, rsp must be
     * 16-byte aligned (garch_entry then makes an aligned call). */
    void *sp = (void *)(t - GARCH_FRAME_SIZE);
    memset(sp, 0, GARCH_FRAME_SIZE);
    uint32_t fpctl[2] = {0x1f80u /* MXCSR default */, 0x037fu /* x87 CW default */};
    memcpy((char *)sp + GARCH_FRAME_MXCSR, fpctl, 8);
    SLOT(sp, GARCH_FRAME_R13) = (uint64_t)(uintptr_t)arg;
    SLOT(sp, GARCH_FRAME_R12) = (uint64_t)(uintptr_t)fn;
    SLOT(sp, GARCH_FRAME_RET) = (uint64_t)(uintptr_t)garch_entry;
    return sp;
}

#elif defined(__aarch64__)

_Static_assert(
    GARCH_FRAME_X20 == GARCH_FRAME_X19 + 8 && GARCH_FRAME_X21 == GARCH_FRAME_X19 + 16 &&
        GARCH_FRAME_X23 == GARCH_FRAME_X21 + 16 && GARCH_FRAME_X25 == GARCH_FRAME_X23 + 16 &&
        GARCH_FRAME_X27 == GARCH_FRAME_X25 + 16 && GARCH_FRAME_X29 == GARCH_FRAME_X27 + 16 &&
        GARCH_FRAME_X30 == GARCH_FRAME_X29 + 8 && GARCH_FRAME_D8 == GARCH_FRAME_X29 + 16 &&
        GARCH_FRAME_D10 == GARCH_FRAME_D8 + 16 && GARCH_FRAME_D12 == GARCH_FRAME_D10 + 16 &&
        GARCH_FRAME_D14 == GARCH_FRAME_D12 + 16 && GARCH_FRAME_FPCR == GARCH_FRAME_D14 + 16,
    "stp pairs are 16 bytes apart");
_Static_assert(GARCH_FRAME_X19 == 0 && GARCH_FRAME_SIZE == GARCH_FRAME_FPCR + 16 &&
                   GARCH_FRAME_SIZE % 16 == 0,
               "the frame starts at sp and keeps it 16-byte aligned");

void *garch_init_stack(void *top, void (*fn)(void *), void *arg) {
    uintptr_t t = (uintptr_t)top & ~(uintptr_t)15;
    void *sp = (void *)(t - GARCH_FRAME_SIZE);
    memset(sp, 0, GARCH_FRAME_SIZE); /* x29 = 0 ends the frame chain; fpcr 0: nearest, no traps */
    SLOT(sp, GARCH_FRAME_X19) = (uint64_t)(uintptr_t)fn;
    SLOT(sp, GARCH_FRAME_X20) = (uint64_t)(uintptr_t)arg;
    SLOT(sp, GARCH_FRAME_X30) = (uint64_t)(uintptr_t)garch_entry;
    return sp;
}

#endif

void *garch_saved_pc(void *sp) { return (void *)(uintptr_t)SLOT(sp, GARCH_FRAME_PC); }
void *garch_saved_fp(void *sp) { return (void *)(uintptr_t)SLOT(sp, GARCH_FRAME_FP); }
