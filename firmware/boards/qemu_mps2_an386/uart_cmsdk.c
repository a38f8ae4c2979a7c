/* CMSDK APB UART, polled; its receive interrupt only wakes an idle core. */
#include "uart_cmsdk.h"

#define STATE_TX_FULL 0x1u
#define STATE_RX_FULL 0x2u
#define STATE_OVERRUNS 0xCu
#define CTRL_TX_ENABLE 0x1u
#define CTRL_RX_ENABLE 0x2u
#define CTRL_RX_INTERRUPT 0x8u
#define INTSTATUS_RX 0x2u
#define BAUDDIV_MIN 16u

void uart_cmsdk_init(uart_cmsdk_regs *uart, uint32_t pclk_hz, uint32_t baud) {
  uint32_t divisor = baud != 0 ? pclk_hz / baud : 0;
  if (divisor < BAUDDIV_MIN) divisor = BAUDDIV_MIN; /* below 16 the UART does not run */
  uart->ctrl = 0;
  /* The divisor first: enabling TX with a divisor under 16 is a guest error to QEMU. */
  uart->bauddiv = divisor;
  uart->state = STATE_OVERRUNS; /* clear stale overrun flags */
  uart->ctrl = CTRL_TX_ENABLE | CTRL_RX_ENABLE;
}

size_t uart_cmsdk_read(uart_cmsdk_regs *uart, uint8_t *buffer, size_t capacity) {
  size_t count = 0;
  /* QEMU hands the UART its next input byte only from its main loop, after the guest has
   * emptied the one-byte buffer, so this usually returns 0 or 1 bytes per call. */
  while (count < capacity && (uart->state & STATE_RX_FULL) != 0) {
    buffer[count++] = (uint8_t)uart->data;
  }
  return count;
}

void uart_cmsdk_write(uart_cmsdk_regs *uart, const uint8_t *data, size_t length) {
  size_t index;
  for (index = 0; index < length; ++index) {
    /* Writing while TX is full overwrites the pending byte (an overrun), so wait. */
    while ((uart->state & STATE_TX_FULL) != 0) {
    }
    uart->data = data[index];
  }
}

void uart_cmsdk_enable_rx_interrupt(uart_cmsdk_regs *uart) { uart->ctrl |= CTRL_RX_INTERRUPT; }

void uart_cmsdk_clear_rx_interrupt(uart_cmsdk_regs *uart) { uart->intstatus = INTSTATUS_RX; }

void uart_cmsdk_wait_for_input(uart_cmsdk_regs *uart) {
  __asm__ volatile("cpsid i" ::: "memory");
  if ((uart->state & STATE_RX_FULL) == 0) __asm__ volatile("wfi" ::: "memory");
  __asm__ volatile("cpsie i" ::: "memory");
}
