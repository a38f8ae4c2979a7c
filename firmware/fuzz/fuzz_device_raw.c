/* libFuzzer harness: the fuzz input is the raw byte stream on the device's serial link.
 *
 * The device reads it through tinyml_device_poll() the way a port's main loop does, 64 bytes
 * per read, with the IMU modes polled in between (a synthetic sensor, so a LIVE_START or
 * CAPTURE_START the input happens to contain runs). Besides the sanitizers, two oracles: every
 * frame the device writes is well formed (fuzz_board.c), and every request, read or not, gets
 * exactly one reply: one per non-empty run of bytes the input ends with a 0x00. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fuzz_board.h"
#include "fuzz_common.h"

/* Idle polls after the input, so a mode the input started takes some samples. */
#define TRAILING_POLLS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const fuzz_board_config config = {1, 160u, 0, 5u, 0x9E3779B9u, 1000u};
  static const fuzz_backend_variant builtin = {0, -1};
  tinyml_device *device = fuzz_device_fresh(&config, &builtin);
  uint32_t requests = 0;
  size_t index, run = 0;
  int poll;
  for (index = 0; index < size; ++index) {
    if (data[index] != 0) {
      ++run;
    } else if (run > 0) {
      ++requests;
      run = 0;
    }
  }
  fuzz_board_queue(data, size, 0);
  while (fuzz_board_pending() > 0) tinyml_device_poll(device);
  for (poll = 0; poll < TRAILING_POLLS; ++poll) tinyml_device_poll(device);
  fuzz_board_close();
  if (tinyml_device_poll(device) != -1) fuzz_fail("poll did not report the closed link");
  if (fuzz_board_written()->replies != requests) {
    fprintf(stderr, "%u requests, %u replies\n", (unsigned)requests,
            (unsigned)fuzz_board_written()->replies);
    fuzz_fail("not exactly one reply per request");
  }
  return 0;
}
