/* board.h for the libFuzzer harnesses: serial bytes come from a queue the harness fills, every
 * frame the device writes is checked on the spot (an ill-formed one aborts, which libFuzzer
 * reports as a crash), time is a counter and the IMU is a synthetic stream the input shapes.
 * Fuzz-only: built into the harnesses (firmware/fuzz/), never into a firmware image. */
#ifndef FUZZ_BOARD_H
#define FUZZ_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "tinyml/protocol.h"

typedef struct {
  int has_imu;
  uint32_t imu_samples;    /* samples the stream holds before it ends */
  int imu_fails;           /* the stream ends in a sensor failure rather than its end */
  uint8_t imu_idle_every;  /* every n-th read has no sample due (0: always due) */
  uint32_t imu_seed;       /* shapes the sample values, extremes included */
  uint32_t imu_max_rate;   /* highest rate the fake sensor accepts, Hz */
} fuzz_board_config;

/* What the device has written since the last reset. */
typedef struct {
  uint32_t replies;        /* frames of a reply type (T | 0x80, or 0xFF) */
  uint32_t events;         /* LIVE_RESULT, IMU_SAMPLES, STREAM_END */
  /* The last reply, decoded. */
  uint8_t type;
  uint16_t seq;
  uint8_t payload[TINYML_MAX_PAYLOAD];
  size_t payload_length;
} fuzz_board_log;

/* Forgets everything: the queue, the IMU, the clock and the log. */
void fuzz_board_reset(const fuzz_board_config *config);

/* Queues serial bytes; board_serial_read hands them out at most `read_size` at a time (0: as
 * many as asked). The bytes must stay valid until read. */
void fuzz_board_queue(const uint8_t *data, size_t length, size_t read_size);

/* Bytes still queued. */
size_t fuzz_board_pending(void);

/* From now on an empty queue reads as a closed link (-1) instead of "nothing yet" (0). */
void fuzz_board_close(void);

const fuzz_board_log *fuzz_board_written(void);

/* Prints `why` and aborts: a finding. */
void fuzz_fail(const char *why) __attribute__((noreturn));

/* CRC-32/ISO-HDLC bit by bit, independent of the core's table-driven one. */
uint32_t fuzz_crc32(const uint8_t *data, size_t length);

/* Largest payload fuzz_frame takes: past the device's limit, to provoke OVERSIZED. */
#define FUZZ_MAX_PAYLOAD (TINYML_MAX_PAYLOAD + 64)
#define FUZZ_FRAME_CAPACITY (2 * (FUZZ_MAX_PAYLOAD + 16))

/* A complete wire frame (COBS and delimiter) for type, seq and payload (at most
 * FUZZ_MAX_PAYLOAD), built independently of the core's encoder; `corrupt_bit` >= 0 flips that
 * bit of the unstuffed frame after its CRC is computed. `out` holds FUZZ_FRAME_CAPACITY bytes.
 * Returns its length. */
size_t fuzz_frame(uint8_t type, uint16_t seq, const uint8_t *payload, size_t length,
                  long corrupt_bit, uint8_t *out);

#endif /* FUZZ_BOARD_H */
