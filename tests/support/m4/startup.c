/* Bare-metal start-up for QEMU's mps2-an386 (Cortex-M4F) and semihosting output and exit. */
#include <stdint.h>

#include "semihost.h"

extern uint32_t __bss_start, __bss_end, __stack_top;
int main(void);
void reset_handler(void);

__attribute__((section(".vectors"), used)) static void (*const vectors[2])(void) = {
    (void (*)(void))&__stack_top, reset_handler};

static int semihost_call(int operation, const void *argument) {
  register int r0 __asm__("r0") = operation;
  register const void *r1 __asm__("r1") = argument;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void semihost_print(const char *text) { semihost_call(0x04, text); /* SYS_WRITE0 */ }

void semihost_exit(int status) {
  /* SYS_EXIT: ADP_Stopped_ApplicationExit ends QEMU with status 0, anything else with 1. */
  semihost_call(0x18, (const void *)(uintptr_t)(status == 0 ? 0x20026 : 0x20023));
  for (;;) {
  }
}

void reset_handler(void) {
  uint32_t *word;
  *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: FPU on, for the hard-float ABI */
  __asm__ volatile("dsb\n isb" ::: "memory");
  for (word = &__bss_start; word < &__bss_end; ++word) *word = 0;
  semihost_exit(main());
}
