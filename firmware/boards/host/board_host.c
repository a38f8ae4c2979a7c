/* board.h for the host build: the serial link is a pair of file descriptors (stdin and stdout,
 * or a pty master), time comes from CLOCK_MONOTONIC, and the IMU replays a recorded stream. */
#define _POSIX_C_SOURCE 200809L

#include "board_host.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "board.h"
#include "tinyml/imu_replay.h"

/* How long an idle serial read may wait for bytes; keeps the main loop from spinning. */
#define IDLE_WAIT_MS 20


static struct {
  board_host_options options;
  int link_closed;
  FILE *imu;
  int imu_active;
  float imu_rate_hz;
  uint64_t imu_next_due_ns;
} host;

static const board_identity_t identity = {"host", "ns", 1000000000u, 0u, 0u};
static board_identity_t identity_with_imu = {"host", "ns", 1000000000u, 0u, 1u};

void board_host_configure(const board_host_options *options) { host.options = *options; }

void board_init(void) {
  board_host_options options = host.options;
  memset(&host, 0, sizeof host);
  host.options = options;
}

static uint64_t now_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

int board_serial_read(uint8_t *buffer, size_t capacity) {
  struct pollfd ready;
  ssize_t got;
  if (host.link_closed) return -1;
  ready.fd = host.options.serial_in;
  ready.events = POLLIN;
  ready.revents = 0;
  if (poll(&ready, 1, host.imu_active ? 0 : IDLE_WAIT_MS) <= 0) return 0;
  if (host.options.serial_is_pty && (ready.revents & POLLHUP)) {
    poll(NULL, 0, IDLE_WAIT_MS); /* no client on the pty right now: wait for the next one */
    return 0;
  }
  got = read(host.options.serial_in, buffer, capacity);
  if (got > 0) return (int)got;
  if (got < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
  if (got < 0 && errno == EIO && host.options.serial_is_pty) return 0;
  host.link_closed = 1;
  return -1;
}

void board_serial_write(const uint8_t *data, size_t length) {
  while (length > 0 && !host.link_closed) {
    ssize_t sent = write(host.options.serial_out, data, length);
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && errno == EAGAIN) {
      struct pollfd ready;
      ready.fd = host.options.serial_out;
      ready.events = POLLOUT;
      ready.revents = 0;
      poll(&ready, 1, IDLE_WAIT_MS);
      continue;
    }
    if (sent <= 0) {
      if (host.options.serial_is_pty) return; /* the client went away; drop the reply */
      host.link_closed = 1;
      return;
    }
    data += sent;
    length -= (size_t)sent;
  }
}

uint32_t board_micros(void) { return (uint32_t)(now_ns() / 1000u); }

uint32_t board_cycles(void) { return (uint32_t)now_ns(); }

const board_identity_t *board_identity(void) {
  return host.options.imu_path != NULL ? &identity_with_imu : &identity;
}

/* The replay file (tinyml/imu_replay.h), played from its beginning at each start. */
int board_imu_start(uint32_t rate_hz) {
  uint8_t header[TINYML_IMU_REPLAY_HEADER_BYTES];
  float rate;
  board_imu_stop();
  if (host.options.imu_path == NULL) return BOARD_UNSUPPORTED;
  host.imu = fopen(host.options.imu_path, "rb");
  if (host.imu == NULL) return BOARD_UNSUPPORTED;
  if (fread(header, 1, sizeof header, host.imu) != sizeof header ||
      (rate = tinyml_imu_replay_rate(header, rate_hz)) == 0.0f) {
    board_imu_stop();
    return BOARD_UNSUPPORTED;
  }
  host.imu_rate_hz = rate;
  host.imu_active = 1;
  host.imu_next_due_ns = now_ns();
  return BOARD_IMU_OK;
}

int board_imu_read(float sample[BOARD_IMU_CHANNELS]) {
  if (!host.imu_active) return BOARD_UNSUPPORTED;
  if (host.options.imu_paced) {
    uint64_t now = now_ns();
    if (now < host.imu_next_due_ns) return BOARD_IMU_NO_SAMPLE;
    host.imu_next_due_ns += (uint64_t)(1e9f / host.imu_rate_hz);
  }
  if (fread(sample, sizeof(float), BOARD_IMU_CHANNELS, host.imu) != BOARD_IMU_CHANNELS) {
    return BOARD_IMU_END;
  }
  return BOARD_IMU_OK;
}

void board_imu_stop(void) {
  if (host.imu != NULL) fclose(host.imu);
  host.imu = NULL;
  host.imu_active = 0;
}
