/* The porting interface: everything the portable core (firmware/lib/tinyml) needs from a board.
 *
 * A new port implements every function below in one C or C++ file (see firmware/boards/host/,
 * firmware/boards/qemu_mps2_an386/ and firmware/src/ for the three ports) and calls
 * tinyml_device_init() and tinyml_device_poll() from its main loop. Nothing else in the core
 * touches hardware.
 *
 * Required: init, serial, time, cost counter, identity.
 * Optional: the IMU. A board without one returns BOARD_UNSUPPORTED from board_imu_start(); the
 * device then answers the live and capture commands with the UNSUPPORTED error code. */
#ifndef BOARD_H
#define BOARD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- required ------------------------------------------------------------------------------ */

/* Brings up clocks, the serial link and the cost counter. Called once, before anything else. */
void board_init(void);

/* Reads up to `capacity` bytes that have already arrived; never blocks. Returns the number of
 * bytes read (0 when none are waiting), or -1 when the link is closed for good (the host port's
 * stdin reached end of file); the main loop then ends. */
int board_serial_read(uint8_t *buffer, size_t capacity);

/* Writes all `length` bytes, blocking until the link has taken them. */
void board_serial_write(const uint8_t *data, size_t length);

/* Microseconds since an arbitrary start; wraps at 2^32. */
uint32_t board_micros(void);

/* The cost counter: a free-running count that advances at board_identity()->cost_hz, wrapping
 * at 2^32. What one count is differs per board and is named by cost_unit: core clock cycles on
 * the Nano 33 BLE Sense (DWT CYCCNT), executed instructions under QEMU -icount, nanoseconds on
 * the host. */
uint32_t board_cycles(void);

typedef struct {
  const char *board;      /* e.g. "nano33ble-rev2", "qemu-mps2-an386", "host" */
  const char *cost_unit;  /* "cycles", "instructions" or "ns" */
  uint32_t cost_hz;       /* counts per second of board_cycles(); 0 when it is not a rate */
  uint32_t cpu_hz;        /* the core clock the board runs at (or models) */
  uint8_t has_imu;        /* 1 when the optional IMU functions can deliver samples */
} board_identity_t;

const board_identity_t *board_identity(void);

/* ---- optional: IMU ------------------------------------------------------------------------- */

#define BOARD_IMU_CHANNELS 6 /* acc x, y, z in m/s^2; gyro x, y, z in rad/s */

enum {
  BOARD_IMU_OK = 0,
  BOARD_IMU_NO_SAMPLE = 1,  /* board_imu_read(): the next sample is not due yet */
  BOARD_UNSUPPORTED = -1,   /* no IMU on this board, or not at this rate */
  BOARD_IMU_END = -2        /* a replayed stream has no more samples */
};

/* Starts sampling at `rate_hz` (the rate the model was trained on). The board paces the samples:
 * board_imu_read() hands out a new one every 1/rate_hz seconds, converted to the units above. */
int board_imu_start(uint32_t rate_hz);

/* Stores the next sample in `sample` and returns BOARD_IMU_OK, or returns BOARD_IMU_NO_SAMPLE,
 * BOARD_IMU_END or BOARD_UNSUPPORTED. */
int board_imu_read(float sample[BOARD_IMU_CHANNELS]);

void board_imu_stop(void);

#ifdef __cplusplus
}
#endif

#endif /* BOARD_H */
