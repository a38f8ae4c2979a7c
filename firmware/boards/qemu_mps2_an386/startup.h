/* What the start-up code offers the rest of the QEMU port. */
#ifndef QEMU_STARTUP_H
#define QEMU_STARTUP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of the stack region (__stack_size in mps2_an386.ld). */
uint32_t qemu_stack_size(void);

/* Deepest stack use since reset, in bytes: the reset handler paints the unused stack with a
 * pattern and this finds the lowest word that no longer holds it. A lower bound in theory (a
 * frame could store the pattern itself), exact in practice. */
uint32_t qemu_stack_high_water(void);

/* Paints the unused stack again, from its bottom to a margin below this call's frame, so that
 * the next qemu_stack_high_water() reports the deepest use since this call (or the margin, if
 * nothing went deeper). Batch mode uses it to measure one invoke's stack. */
void qemu_stack_repaint(void);

/* Bytes of stack in use at the call: the stack top minus the caller's stack pointer. */
uint32_t qemu_stack_depth(void);

/* Sleeps until a byte arrives on UART0, unless one is already waiting. */
void board_wait_for_serial(void);

/* Reports `message` on UART0 and semihosting's stderr and ends QEMU with exit status 4 (a fault
 * ends it with 3). */
void qemu_fatal(const char *message) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif /* QEMU_STARTUP_H */
