/* arch/frame.c — building the start block of a fresh goroutine stack, and
 * reading a switched-out frame. The layout is arch/frame.h's, which the
 * assembly (switch_<arch>.S) uses too. */
#include "arch/arch.h"

#include <stdint.h>

#include "arch/frame.h"

#define SLOT(sp, off) (*(uint64_t *)(void *)((char *)(sp) + (off)))

#if defined(__x86_64__)

/* One 8-byte slot each, in push order, ending with the return address. */
#if defined(GOC_SWITCH_MXCSR)
_Static_assert(GARCH_FRAME_MXCSR == 0 && GARCH_FRAME_X87CW == GARCH_FRAME_MXCSR + 4 &&
                   GARCH_FRAME_R15 == 8,
               "the fp control words share the slot below the registers");
#else
_Static_assert(GARCH_FRAME_R15 == 0, "no fp control slot: the registers start at sp");
#endif
_Static_assert(GARCH_FRAME_R14 == GARCH_FRAME_R15 + 8 && GARCH_FRAME_R13 == GARCH_FRAME_R14 + 8 &&
                   GARCH_FRAME_R12 == GARCH_FRAME_R13 + 8 &&
                   GARCH_FRAME_RBX == GARCH_FRAME_R12 + 8 &&
                   GARCH_FRAME_RBP == GARCH_FRAME_RBX + 8 && GARCH_FRAME_RET == GARCH_FRAME_RBP + 8,
               "garch_switch pushes rbp, rbx, r12..r15 below the return address");
_Static_assert(GARCH_FRAME_SIZE == GARCH_FRAME_RET + 8,
               "the frame is the fp control slot if any, six registers and the return address");

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

#endif

_Static_assert(GARCH_START_SIZE % 16 == 0 && GARCH_START_TAG < 8,
               "a start block is 16-byte aligned");

void *garch_init_stack(void *top, void *(*fn)(void *), void *arg) {
    /* garch_start sets sp to the block and calls fn: the block's 16-byte
     * alignment is the one a call needs. fn's frames go below it. */
    uintptr_t t = ((uintptr_t)top & ~(uintptr_t)15) - GARCH_START_SIZE;
    SLOT(t, GARCH_START_FN) = (uint64_t)(uintptr_t)fn;
    SLOT(t, GARCH_START_ARG) = (uint64_t)(uintptr_t)arg;
    return (void *)(t + GARCH_START_TAG);
}

/* A start block has no saved pc or fp (the goroutine has not run). */
void *garch_saved_pc(void *sp) {
    if ((uintptr_t)sp & GARCH_START_TAG)
        return NULL;
    return (void *)(uintptr_t)SLOT(sp, GARCH_FRAME_PC);
}
void *garch_saved_fp(void *sp) {
    if ((uintptr_t)sp & GARCH_START_TAG)
        return NULL;
    return (void *)(uintptr_t)SLOT(sp, GARCH_FRAME_FP);
}
