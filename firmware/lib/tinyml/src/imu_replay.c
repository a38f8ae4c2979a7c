#include "tinyml/imu_replay.h"

#include <float.h>
#include <string.h>

#include "board.h"
#include "tinyml/little_endian.h"

static const uint8_t replay_magic[8] = {'T', 'M', 'L', 'I', 'M', 'U', '1', '\0'};

float tinyml_imu_replay_rate(const uint8_t header[TINYML_IMU_REPLAY_HEADER_BYTES],
                             uint32_t rate_hz) {
  const float rate = tinyml_get_f32le(header + 8);
  const float wanted = (float)rate_hz;
  if (memcmp(header, replay_magic, sizeof replay_magic) != 0 ||
      tinyml_get_u16le(header + 12) != BOARD_IMU_CHANNELS || tinyml_get_u16le(header + 14) != 0) {
    return 0.0f;
  }
  /* NaN fails the first comparison, infinity the second. */
  if (!(rate > 0.0f) || rate > FLT_MAX || wanted < rate * 0.99f || wanted > rate * 1.01f) {
    return 0.0f;
  }
  return rate;
}
