/* The IMU replay file that the host and QEMU ports play to the live and capture modes (written
 * by tools/imu_replay.py; layout in firmware/README.md, "IMU replay"): a 16-byte header, then
 * float32 samples of BOARD_IMU_CHANNELS values. */
#ifndef TINYML_IMU_REPLAY_H
#define TINYML_IMU_REPLAY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TINYML_IMU_REPLAY_HEADER_BYTES 16u

/* The header's sample rate when the header is one a port can replay to a model trained at
 * `rate_hz`: the magic, the channel count, a zero reserved field, and a finite, positive rate
 * within 1 % of `rate_hz` (a stream recorded at another rate would be misread). 0 otherwise. */
float tinyml_imu_replay_rate(const uint8_t header[TINYML_IMU_REPLAY_HEADER_BYTES],
                             uint32_t rate_hz);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_IMU_REPLAY_H */
