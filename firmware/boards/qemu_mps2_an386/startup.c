/* Bare-metal start-up for QEMU's mps2-an386 (Cortex-M4F): the vector table, the reset handler
 * (FPU on, stack painted, .data copied, .bss zeroed, main) and one handler for every fault and
 * unexpected interrupt, which reports over UART0 and semihosting and ends QEMU with status 3
 * rather than hanging silently. */
#include <stdint.h>

#include "semihosting.h"
#include "startup.h"
#include "uart_cmsdk.h"

/* From mps2_an386.ld. */
extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];
extern uint32_t __stack_bottom[], __stack_top[];

int main(void);
void reset_handler(void) __attribute__((noreturn));
void fault_entry(void);

/* Peripheral interrupts a board file may handle; the rest end in fault_entry. */
void UART0_RX_IRQHandler(void) __attribute__((weak, alias("fault_entry")));
void TIMER0_IRQHandler(void) __attribute__((weak, alias("fault_entry")));

#define STACK_PAINT 0x57AC57ACu
#define EXIT_FAULT 3
#define EXIT_FATAL 4

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_DFSR (*(volatile uint32_t *)0xE000ED30u)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define SCB_BFAR (*(volatile uint32_t *)0xE000ED38u)
#define HFSR_DEBUGEVT (1u << 31)
#define HFSR_FORCED (1u << 30)
#define DFSR_BKPT (1u << 1)
#define BKPT_SEMIHOSTING 0xBEABu

#define UART_PCLK_HZ 25000000u
#define UART_BAUD 115200u

typedef void (*vector)(void);

/* 16 system exceptions and the AN386's 32 external interrupts (UART0 RX is IRQ 0, TIMER0 IRQ 8). */
__attribute__((section(".vectors"), used)) static const vector vectors[16 + 32] = {
    [0] = (vector)__stack_top,
    [1] = reset_handler,
    [2] = fault_entry,  /* NMI */
    [3] = fault_entry,  /* HardFault */
    [4] = fault_entry,  /* MemManage */
    [5] = fault_entry,  /* BusFault */
    [6] = fault_entry,  /* UsageFault */
    [11] = fault_entry, /* SVCall */
    [12] = fault_entry, /* DebugMonitor */
    [14] = fault_entry, /* PendSV */
    [15] = fault_entry, /* SysTick */
    [16 + 0] = UART0_RX_IRQHandler,  [16 + 1] = fault_entry,  [16 + 2] = fault_entry,
    [16 + 3] = fault_entry,  [16 + 4] = fault_entry,  [16 + 5] = fault_entry,
    [16 + 6] = fault_entry,  [16 + 7] = fault_entry,  [16 + 8] = TIMER0_IRQHandler,
    [16 + 9] = fault_entry,  [16 + 10] = fault_entry, [16 + 11] = fault_entry,
    [16 + 12] = fault_entry, [16 + 13] = fault_entry, [16 + 14] = fault_entry,
    [16 + 15] = fault_entry, [16 + 16] = fault_entry, [16 + 17] = fault_entry,
    [16 + 18] = fault_entry, [16 + 19] = fault_entry, [16 + 20] = fault_entry,
    [16 + 21] = fault_entry, [16 + 22] = fault_entry, [16 + 23] = fault_entry,
    [16 + 24] = fault_entry, [16 + 25] = fault_entry, [16 + 26] = fault_entry,
    [16 + 27] = fault_entry, [16 + 28] = fault_entry, [16 + 29] = fault_entry,
    [16 + 30] = fault_entry, [16 + 31] = fault_entry,
};

void reset_handler(void) {
  volatile uint32_t *word; /* volatile: keep these loops loops, not calls into libc */
  uint32_t *source;
  uint32_t sp;
  int status;

  /* Full access to CP10/CP11 before any floating-point instruction: the hard-float ABI may use
   * FPU registers anywhere from here on. */
  SCB_CPACR |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");

  /* Paint the stack below this frame (with a margin for it) for qemu_stack_high_water(). */
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (word = __stack_bottom; word < (volatile uint32_t *)(sp - 64u); ++word) *word = STACK_PAINT;

  for (source = __data_load, word = __data_start; word < __data_end; ++word, ++source) {
    *word = *source;
  }
  for (word = __bss_start; word < __bss_end; ++word) *word = 0;

  status = main();
  semihost_exit(status);
  for (;;) {
  }
}

uint32_t qemu_stack_size(void) {
  return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom);
}

uint32_t qemu_stack_high_water(void) {
  const volatile uint32_t *word = __stack_bottom;
  while (word < __stack_top && *word == STACK_PAINT) ++word;
  return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)word);
}

void qemu_stack_repaint(void) {
  volatile uint32_t *word; /* volatile: a loop, not a call into libc's memset */
  uint32_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  /* The same margin as at reset: below it the stack is free whatever this frame holds. */
  for (word = __stack_bottom; word < (volatile uint32_t *)(sp - 64u); ++word) *word = STACK_PAINT;
}

/* A leaf that saves nothing on the stack, so its SP is the caller's at the call. */
uint32_t __attribute__((noinline)) qemu_stack_depth(void) {
  uint32_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  return (uint32_t)((uintptr_t)__stack_top - sp);
}

/* ---- fault reporting ------------------------------------------------------------------- */

typedef struct {
  char text[224];
  unsigned length;
} line;

static void put_text(line *out, const char *text) {
  while (*text != '\0' && out->length + 1 < sizeof out->text) out->text[out->length++] = *text++;
  out->text[out->length] = '\0';
}

static void put_hex(line *out, const char *label, uint32_t value) {
  char digits[11] = "0x00000000";
  int index;
  for (index = 9; index >= 2; --index, value >>= 4) digits[index] = "0123456789abcdef"[value & 15];
  put_text(out, label);
  put_text(out, digits);
}

static void report(const line *message, int status) __attribute__((noreturn));

static void report(const line *message, int status) {
  /* UART0 may not be set up yet (a fault before board_init); setting it up again is harmless.
   * The text goes into the protocol stream, where the host's receiver skips it as garbage. */
  uart_cmsdk_init(UART_CMSDK_UART0, UART_PCLK_HZ, UART_BAUD);
  uart_cmsdk_write(UART_CMSDK_UART0, (const uint8_t *)message->text, message->length);
  semihost_write0(message->text);
  semihost_exit(status);
  /* No semihosting: nothing can end QEMU, so stop here having said why. */
  __asm__ volatile("cpsid i" ::: "memory");
  for (;;) {
  }
}

void qemu_fatal(const char *message) {
  line out = {{0}, 0};
  put_text(&out, "\r\n*** FATAL: ");
  put_text(&out, message);
  put_text(&out, "\r\n");
  report(&out, EXIT_FATAL);
}

static const char *const exception_names[16] = {
    "thread", "reset",   "NMI",      "HardFault", "MemManage", "BusFault", "UsageFault", "7",
    "8",      "9",       "10",       "SVCall",    "DebugMon",  "13",       "PendSV",     "SysTick"};

/* Called from fault_entry with the stacked r0-r3, r12, lr, pc, xPSR and EXC_RETURN. */
void fault_dispatch(uint32_t *frame, uint32_t exc_return) __attribute__((used));

void fault_dispatch(uint32_t *frame, uint32_t exc_return) {
  uint32_t ipsr;
  line out = {{0}, 0};
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  ipsr &= 0x1FFu;

  /* With semihosting off, QEMU turns a semihosting BKPT into a DebugMonitor exception, which,
   * disabled, escalates to HardFault (QEMU 7.2 reports it as FORCED, not DEBUGEVT). The stacked
   * pc then points at the BKPT itself: make the call return -1 and step over it, so the
   * firmware runs on without the host's files. */
  if (ipsr == 3 && *(const volatile uint16_t *)(uintptr_t)frame[6] == BKPT_SEMIHOSTING) {
    semihost_mark_absent();
    frame[0] = 0xFFFFFFFFu;
    frame[6] += 2;
    SCB_HFSR = HFSR_DEBUGEVT | HFSR_FORCED; /* write one to clear */
    SCB_DFSR = DFSR_BKPT;
    return;
  }

  put_text(&out, "\r\n*** FAULT: ");
  if (ipsr < 16) {
    put_text(&out, exception_names[ipsr]);
  } else {
    put_hex(&out, "IRQ ", ipsr - 16);
  }
  put_hex(&out, " pc=", frame[6]);
  put_hex(&out, " lr=", frame[5]);
  put_hex(&out, " psr=", frame[7]);
  put_hex(&out, " cfsr=", SCB_CFSR);
  put_hex(&out, " hfsr=", SCB_HFSR);
  put_hex(&out, " dfsr=", SCB_DFSR);
  put_hex(&out, " mmfar=", SCB_MMFAR);
  put_hex(&out, " bfar=", SCB_BFAR);
  put_hex(&out, " exc_return=", exc_return);
  put_text(&out, "\r\n");
  report(&out, EXIT_FAULT);
}

/* Finds the stacked frame (main or process stack, EXC_RETURN bit 2) and passes it on with
 * EXC_RETURN still in lr, so a return from fault_dispatch is an exception return. */
__attribute__((naked)) void fault_entry(void) {
  __asm__ volatile(
      "tst lr, #4\n\t"
      "ite eq\n\t"
      "mrseq r0, msp\n\t"
      "mrsne r0, psp\n\t"
      "mov r1, lr\n\t"
      "b fault_dispatch\n\t");
}
