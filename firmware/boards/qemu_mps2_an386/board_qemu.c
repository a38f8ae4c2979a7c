/* board.h for QEMU's mps2-an386 (Cortex-M4F, 25 MHz SYSCLK in QEMU's model).
 *
 * Serial: UART0, polled (QEMU's first -serial). While the device is idle the core sleeps in WFI
 * until a byte arrives (board_wait_for_serial): a spinning core would hold a host CPU the whole
 * time, and with several emulators sharing a machine (tinyml validate --jobs) that halved the
 * throughput of each.
 *
 * Time and cost: QEMU has no DWT cycle counter, and without -icount its clocks follow the host.
 * Run with `-icount shift=7` (tools/qemu.py does): every executed instruction then advances
 * virtual time by exactly 2^7 = 128 ns, and while the core runs virtual time moves no other way.
 * TIMER0 (CMSDK APB timer, PCLK = 25 MHz, so 40 ns a tick) counts down from 0xFFFFFFFF, extended
 * to 64 bits by counting its wraps (every 2^32 ticks = 171.8 virtual seconds) in its interrupt.
 * Over an interval in which the core does not sleep, the tick count is within one tick
 * (0.3125 instructions) of 3.2 x the instructions executed, so round(ticks * 5 / 16) is exactly
 * that number of instructions. Sleeping in WFI lets virtual time jump by an amount that is no
 * multiple of 128 ns, so each wake-up takes a new reference reading and
 *   board_cycles() = cycles at the reference + round((ticks - reference ticks) * 5 / 16),
 *   board_micros() = virtual microseconds since timer_start() = ticks / 25.
 * The difference of two board_cycles() readings with no sleep between them (an invoke, a
 * handler) is then the exact number of instructions, deterministic run to run. A reading counts
 * the instructions before it up to and including its own load of the timer. cost_hz is the rate
 * that implies, 10^9 / 128 = 7812500 instructions per virtual second. The count is what QEMU
 * executed, not Cortex-M4 cycles: no wait states, no pipeline, a multiply or a load counts 1
 * like an add. The wrap interrupt's 8 instructions land in whatever interval spans a wrap, once
 * every 1342177280 instructions.
 *
 * IMU: a recorded stream replayed from a host file through semihosting (see board_imu_start). */
#include <string.h>

#include "board.h"
#include "semihosting.h"
#include "tinyml/imu_replay.h"
#include "tinyml/little_endian.h"
#include "uart_cmsdk.h"

#define SYSCLK_HZ 25000000u
#define UART_BAUD 115200u
#define INSTRUCTIONS_PER_SECOND 7812500u /* 1e9 ns / 128 ns (-icount shift=7) */

/* ---- cost counter ---------------------------------------------------------------------- */

typedef struct {
  volatile uint32_t ctrl;      /* 0x00 bit 0 enable, bit 3 interrupt enable */
  volatile uint32_t value;     /* 0x04 counts down at PCLK */
  volatile uint32_t reload;    /* 0x08 writing it also loads value */
  volatile uint32_t intstatus; /* 0x0C bit 0, write one to clear */
} cmsdk_timer_regs;

#define TIMER0 ((cmsdk_timer_regs *)0x40000000u)
#define TIMER0_IRQ 8
#define UART0_RX_IRQ 0
#define TIMER_CTRL_ENABLE 0x1u
#define TIMER_CTRL_IRQ_ENABLE 0x8u
#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)

static volatile uint32_t timer_wraps;
static uint64_t reference_ticks; /* board_cycles()'s reference reading, taken at each wake-up */
static uint32_t reference_cycles;

/* The timer raises its interrupt as its count goes from 1 to 0; the count then holds 0 for one
 * tick and reloads 0xFFFFFFFF. */
void TIMER0_IRQHandler(void) {
  TIMER0->intstatus = 1;
  timer_wraps = timer_wraps + 1;
}

static void timer_start(void) {
  TIMER0->ctrl = 0;
  TIMER0->reload = 0xFFFFFFFFu;
  TIMER0->intstatus = 1;
  timer_wraps = 0;
  reference_ticks = 0;
  reference_cycles = 0;
  NVIC_ISER0 = 1u << TIMER0_IRQ;
  TIMER0->ctrl = TIMER_CTRL_ENABLE | TIMER_CTRL_IRQ_ENABLE;
}

/* PCLK ticks since timer_start(). */
static uint64_t timer_ticks(void) {
  uint32_t primask, value, wraps;
  __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
  /* One read of the count, always at the same place, so every call samples time at the same
   * instruction whichever way it goes on. */
  value = TIMER0->value;
  wraps = timer_wraps;
  /* A wrap the handler has not counted yet (interrupts are masked here): it happened around the
   * read, and the count tells on which side. Just before it the count is small (or the 0 it
   * holds), just after it close to 0xFFFFFFFF. */
  if ((TIMER0->intstatus & 1u) != 0 && value > 0x7FFFFFFFu) ++wraps;
  __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
  return ((uint64_t)wraps << 32) | (uint32_t)(0xFFFFFFFFu - value);
}

static uint32_t ticks_to_instructions(uint64_t ticks) { return (uint32_t)((ticks * 5u + 8u) >> 4); }

/* A new reference after a sleep; see the top of the file. */
static void cycles_rebase(void) {
  const uint64_t now = timer_ticks();
  reference_cycles = ticks_to_instructions(now);
  reference_ticks = now;
}

uint32_t board_cycles(void) {
  return reference_cycles + ticks_to_instructions(timer_ticks() - reference_ticks);
}

uint32_t board_micros(void) { return (uint32_t)(timer_ticks() / (SYSCLK_HZ / 1000000u)); }

/* ---- required ---------------------------------------------------------------------------- */

/* has_imu is filled in by board_init(), once it knows whether there is a replay file. */
static board_identity_t identity = {"qemu-mps2-an386", "instructions", INSTRUCTIONS_PER_SECOND,
                                    SYSCLK_HZ, 0};

static int imu_replay_exists(void);

void board_init(void) {
  uart_cmsdk_init(UART_CMSDK_UART0, SYSCLK_HZ, UART_BAUD);
  timer_start();
  uart_cmsdk_enable_rx_interrupt(UART_CMSDK_UART0);
  NVIC_ISER0 = 1u << UART0_RX_IRQ;
  identity.has_imu = (uint8_t)imu_replay_exists();
}

void UART0_RX_IRQHandler(void) { uart_cmsdk_clear_rx_interrupt(UART_CMSDK_UART0); }

void board_wait_for_serial(void) {
  uart_cmsdk_wait_for_input(UART_CMSDK_UART0);
  cycles_rebase();
}

int board_serial_read(uint8_t *buffer, size_t capacity) {
  /* A UART never closes: never -1. */
  return (int)uart_cmsdk_read(UART_CMSDK_UART0, buffer, capacity);
}

void board_serial_write(const uint8_t *data, size_t length) {
  uart_cmsdk_write(UART_CMSDK_UART0, data, length);
}

const board_identity_t *board_identity(void) { return &identity; }

/* ---- IMU replay -------------------------------------------------------------------------- */

/* The replay file (tinyml/imu_replay.h), the same as the host port's.
 *
 * Where it comes from: the path after "imu=" on the semihosting command line (tools/qemu.py
 * passes `-semihosting-config ...,arg=tinyml-qemu,arg=imu=PATH`; the rest of the line is the
 * path, spaces included), else "imu_replay.bin" in QEMU's working directory. */
#define IMU_DEFAULT_PATH "imu_replay.bin"
#define IMU_PATH_KEY " imu="
#define IMU_SAMPLE_BYTES (BOARD_IMU_CHANNELS * 4)
#define IMU_BATCH 16 /* samples per semihosting read: host round trips are the slow part */

static int imu_handle = -1; /* semihosting file handle, -1 when stopped */

static struct { /* in .bss: an initializer would put the buffer in flash too */
  uint8_t buffer[IMU_BATCH * IMU_SAMPLE_BYTES];
  size_t filled; /* bytes in buffer */
  size_t next;   /* offset of the next sample in buffer */
  int ended;
} imu;

static char command_line[384];

static const char *replay_path(void) {
  const size_t key_length = sizeof IMU_PATH_KEY - 1;
  const char *at;
  if (semihost_command_line(command_line, sizeof command_line) < 0) return IMU_DEFAULT_PATH;
  /* A plain scan: newlib's strstr brings a kilobyte of two-way search along. */
  for (at = command_line; *at != '\0'; ++at) {
    if (strncmp(at, IMU_PATH_KEY, key_length) == 0 && at[key_length] != '\0') {
      return at + key_length;
    }
  }
  return IMU_DEFAULT_PATH;
}

/* Also finds out whether semihosting is on at all (without it the open fails, once). */
static int imu_replay_exists(void) {
  const int handle = semihost_open_read(replay_path());
  if (handle < 0) return 0;
  semihost_close(handle);
  return 1;
}

static int read_all(int handle, uint8_t *buffer, size_t length) {
  return semihost_read(handle, buffer, length) == (int)length;
}

int board_imu_start(uint32_t rate_hz) {
  uint8_t header[TINYML_IMU_REPLAY_HEADER_BYTES];
  int handle;

  board_imu_stop();
  handle = semihost_open_read(replay_path());
  if (handle < 0) return BOARD_UNSUPPORTED;
  if (!read_all(handle, header, sizeof header) || tinyml_imu_replay_rate(header, rate_hz) == 0.0f) {
    semihost_close(handle);
    return BOARD_UNSUPPORTED;
  }
  imu_handle = handle;
  imu.filled = 0;
  imu.next = 0;
  imu.ended = 0;
  return BOARD_IMU_OK;
}

/* Hands out the next sample at once: emulation has no real time to pace it against (virtual
 * time runs as fast as QEMU executes), so the stream goes as fast as the device consumes it
 * and BOARD_IMU_NO_SAMPLE never occurs. */
int board_imu_read(float sample[BOARD_IMU_CHANNELS]) {
  int channel, count;
  if (imu_handle < 0) return BOARD_UNSUPPORTED;
  if (imu.next + IMU_SAMPLE_BYTES > imu.filled) {
    if (imu.ended) return BOARD_IMU_END;
    count = semihost_read(imu_handle, imu.buffer, sizeof imu.buffer);
    /* A trailing partial sample is dropped: the recording was cut off mid-sample. */
    if (count < IMU_SAMPLE_BYTES) {
      imu.ended = 1;
      imu.filled = 0;
      imu.next = 0;
      return BOARD_IMU_END;
    }
    imu.filled = (size_t)count;
    imu.next = 0;
  }
  for (channel = 0; channel < BOARD_IMU_CHANNELS; ++channel) {
    sample[channel] = tinyml_get_f32le(imu.buffer + imu.next + 4u * (unsigned)channel);
  }
  imu.next += IMU_SAMPLE_BYTES;
  return BOARD_IMU_OK;
}

void board_imu_stop(void) {
  if (imu_handle >= 0) semihost_close(imu_handle);
  imu_handle = -1;
  imu.filled = 0;
  imu.next = 0;
  imu.ended = 0;
}
