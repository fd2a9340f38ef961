/* arch/frame.h — the layout of the frame garch_switch saves, in bytes from
 * the saved stack pointer. Included by the assembly (switch_<arch>.S) and by
 * frame.c, which builds a fresh goroutine's first frame and reads a parked
 * goroutine's pc and fp for tracebacks; static asserts in frame.c check that
 * the numbers describe one contiguous frame. Only preprocessor definitions:
 * the assembler reads this file too. */
#ifndef GOC_ARCH_FRAME_H
#define GOC_ARCH_FRAME_H

#if defined(__x86_64__)
/* garch_switch pushes rbp, rbx, r12-r15 after the call pushed the return
 * address, then 8 bytes of floating-point control words. */
#define GARCH_FRAME_MXCSR 0 /* 4 bytes; saved only with GOC_SWITCH_MXCSR */
#define GARCH_FRAME_X87CW 4 /* 2 bytes */
#define GARCH_FRAME_R15 8
#define GARCH_FRAME_R14 16
#define GARCH_FRAME_R13 24 /* a fresh frame: the entry's argument */
#define GARCH_FRAME_R12 32 /* a fresh frame: the entry function */
#define GARCH_FRAME_RBX 40
#define GARCH_FRAME_RBP 48
#define GARCH_FRAME_RET 56
#define GARCH_FRAME_SIZE 64 /* including the return address */
#define GARCH_FRAME_PC GARCH_FRAME_RET
#define GARCH_FRAME_FP GARCH_FRAME_RBP

#elif defined(__aarch64__)
#define GARCH_FRAME_X19 0 /* a fresh frame: the entry function */
#define GARCH_FRAME_X20 8 /* a fresh frame: the entry's argument */
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
