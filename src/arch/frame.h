/* arch/frame.h — the layout of the frame garch_switch saves, in bytes from
 * the saved stack pointer, and of a fresh stack's start block. Included by
 * the assembly (switch_<arch>.S) and by frame.c, which builds a fresh
 * goroutine's start block and reads a parked goroutine's pc and fp for
 * tracebacks; static asserts in frame.c check that the numbers describe one
 * contiguous frame. Only preprocessor definitions: the assembler reads this
 * file too. */
#ifndef GOC_ARCH_FRAME_H
#define GOC_ARCH_FRAME_H

/* A fresh stack's context is not a saved frame but a start block at its
 * top: the entry function and its argument, 16-byte aligned. The context
 * pointer is the block's address + GARCH_START_TAG; saved frames are
 * 8-byte aligned, so bit 0 tells the two apart (garch_switch tests it). */
#define GARCH_START_FN 0
#define GARCH_START_ARG 8
#define GARCH_START_SIZE 16
#define GARCH_START_TAG 1

#if defined(__x86_64__)
/* garch_switch pushes rbp, rbx, r12-r15 after the call pushed the return
 * address, then, with GOC_SWITCH_MXCSR only, 8 bytes of floating-point
 * control words (without it the frame has no such slot: two instructions
 * less per switch, the stack pointer's adjustment and its undoing). */
#if defined(GOC_SWITCH_MXCSR)
#define GARCH_FRAME_MXCSR 0 /* 4 bytes */
#define GARCH_FRAME_X87CW 4 /* 2 bytes */
#define GARCH_FRAME_R15 8
#else
#define GARCH_FRAME_R15 0
#endif
#define GARCH_FRAME_R14 (GARCH_FRAME_R15 + 8)
#define GARCH_FRAME_R13 (GARCH_FRAME_R15 + 16)
#define GARCH_FRAME_R12 (GARCH_FRAME_R15 + 24)
#define GARCH_FRAME_RBX (GARCH_FRAME_R15 + 32)
#define GARCH_FRAME_RBP (GARCH_FRAME_R15 + 40)
#define GARCH_FRAME_RET (GARCH_FRAME_R15 + 48)
#define GARCH_FRAME_SIZE (GARCH_FRAME_R15 + 56) /* including the return address */
#define GARCH_FRAME_PC GARCH_FRAME_RET
#define GARCH_FRAME_FP GARCH_FRAME_RBP

#elif defined(__aarch64__)
#define GARCH_FRAME_X19 0
#define GARCH_FRAME_X20 8
#define GARCH_FRAME_X21 16
#define GARCH_FRAME_X23 32
#define GARCH_FRAME_X25 48
#define GARCH_FRAME_X27 64
#define GARCH_FRAME_X29 80 /* frame pointer */
#define GARCH_FRAME_X30 88 /* link register: where the switch returns */
#define GARCH_FRAME_D8 96
#define GARCH_FRAME_D10 112
#define GARCH_FRAME_D12 128
#define GARCH_FRAME_D14 144
#define GARCH_FRAME_FPCR 160
#define GARCH_FRAME_SIZE 176 /* 8 bytes of padding keep sp 16-byte aligned */
#define GARCH_FRAME_PC GARCH_FRAME_X30
#define GARCH_FRAME_FP GARCH_FRAME_X29

#else
#error "goc: unsupported architecture (x86_64 and aarch64 are supported)"
#endif

#endif
