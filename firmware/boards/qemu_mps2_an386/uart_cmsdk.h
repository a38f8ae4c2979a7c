/* CMSDK APB UART (ARM DDI0479C, section 4.3): the UARTs of the MPS2 FPGA images. One byte of
 * buffer each way, polled. The receive interrupt only wakes an idle core (see
 * uart_cmsdk_wait_for_input); no handler reads or writes data behind the measured code's back. */
#ifndef QEMU_UART_CMSDK_H
#define QEMU_UART_CMSDK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  volatile uint32_t data;      /* 0x00 write: transmit; read: the received byte */
  volatile uint32_t state;     /* 0x04 bit 0 TX full, bit 1 RX full, bits 2-3 overruns (W1C) */
  volatile uint32_t ctrl;      /* 0x08 bit 0 TX enable, bit 1 RX enable, bits 2-6 interrupts */
  volatile uint32_t intstatus; /* 0x0C */
  volatile uint32_t bauddiv;   /* 0x10 PCLK / baud, at least 16 */
} uart_cmsdk_regs;

/* UART0, the one QEMU connects to the first -serial. */
#define UART_CMSDK_UART0 ((uart_cmsdk_regs *)0x40004000u)

/* Enables TX and RX at `baud` (QEMU does not pace bytes by it; a real board would). */
void uart_cmsdk_init(uart_cmsdk_regs *uart, uint32_t pclk_hz, uint32_t baud);

/* Takes whatever bytes have arrived, up to `capacity`; never waits. */
size_t uart_cmsdk_read(uart_cmsdk_regs *uart, uint8_t *buffer, size_t capacity);

/* Raises the UART's receive interrupt when a byte arrives, so that a core sleeping in WFI wakes. */
void uart_cmsdk_enable_rx_interrupt(uart_cmsdk_regs *uart);

/* Acknowledges the receive interrupt (call it from the interrupt's handler). */
void uart_cmsdk_clear_rx_interrupt(uart_cmsdk_regs *uart);

/* Sleeps in WFI until a byte is waiting, unless one already is. Interrupts are masked around
 * the check, so a byte arriving between it and the WFI still wakes the core (a pending
 * interrupt ends WFI even when masked); the handler runs once they are unmasked. */
void uart_cmsdk_wait_for_input(uart_cmsdk_regs *uart);

/* Sends every byte, waiting for the transmitter to take each one. */
void uart_cmsdk_write(uart_cmsdk_regs *uart, const uint8_t *data, size_t length);

#ifdef __cplusplus
}
#endif

#endif /* QEMU_UART_CMSDK_H */
