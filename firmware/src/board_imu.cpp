// board.h's optional IMU functions for the Nano 33 BLE Sense: paces the samples at the rate the
// device asks for and converts them to SI units. The sensor itself (imu_sensor.h) runs at its
// own rate (119 Hz on Rev1, 100 Hz on Rev2); a model trained at 10 Hz gets one sample per 100 ms,
// the mean of the readings taken since the previous one.
#include <Arduino.h>

#include "board.h"
#include "imu_sensor.h"

namespace {

constexpr float kStandardGravity = 9.80665f;           // m/s^2 per g
constexpr float kRadiansPerDegree = 3.14159265358979f / 180.0f;

struct Mean3 {
  float sum[3];
  uint32_t count;
};

struct ImuPacer {
  bool running;
  uint32_t period_us;       // between samples handed out
  uint32_t next_due_us;
  uint32_t poll_period_us;  // between looks at the sensor: its own output period
  uint32_t last_poll_us;
  Mean3 acceleration;       // g
  Mean3 rotation;           // degrees per second
};

ImuPacer pacer;

void mean_reset(Mean3 *mean) {
  mean->sum[0] = mean->sum[1] = mean->sum[2] = 0.0f;
  mean->count = 0;
}

void mean_add(Mean3 *mean, const float value[3]) {
  for (int axis = 0; axis < 3; ++axis) mean->sum[axis] += value[axis];
  mean->count += 1;
}

// Takes whatever the sensor produced since the last look. Looking more often than the sensor's
// own rate would only spend I2C transfers (each a few hundred microseconds) on status reads.
void poll_sensor(uint32_t now) {
  if (now - pacer.last_poll_us < pacer.poll_period_us) return;
  pacer.last_poll_us = now;
  float reading[3];
  if (imu_sensor_acceleration_ready() && imu_sensor_read_acceleration(reading)) {
    mean_add(&pacer.acceleration, reading);
  }
  if (imu_sensor_rotation_ready() && imu_sensor_read_rotation(reading)) {
    mean_add(&pacer.rotation, reading);
  }
}

// The mean since the last sample, averaging down the sensor's rate (a box filter, so that motion
// faster than the model's rate does not alias); the latest reading when none arrived in time.
bool take_mean(Mean3 *mean, bool (*read_latest)(float[3]), float scale, float *out) {
  float value[3];
  if (mean->count > 0) {
    for (int axis = 0; axis < 3; ++axis) value[axis] = mean->sum[axis] / (float)mean->count;
  } else if (!read_latest(value)) {
    return false;
  }
  for (int axis = 0; axis < 3; ++axis) out[axis] = value[axis] * scale;
  mean_reset(mean);
  return true;
}

}  // namespace

int board_imu_start(uint32_t rate_hz) {
  uint32_t sensor_hz = imu_sensor_rate_hz();
  // Faster than the sensor would hand out repeated readings as if they were new.
  if (rate_hz == 0 || rate_hz > sensor_hz) return BOARD_UNSUPPORTED;
  if (!pacer.running && !imu_sensor_begin()) return BOARD_UNSUPPORTED;
  uint32_t now = micros();
  pacer.running = true;
  pacer.period_us = 1000000u / rate_hz;
  pacer.next_due_us = now + pacer.period_us;
  pacer.poll_period_us = 1000000u / sensor_hz;
  pacer.last_poll_us = now - pacer.poll_period_us;  // look at the sensor on the first read
  mean_reset(&pacer.acceleration);
  mean_reset(&pacer.rotation);
  return BOARD_IMU_OK;
}

int board_imu_read(float sample[BOARD_IMU_CHANNELS]) {
  if (!pacer.running) return BOARD_UNSUPPORTED;
  uint32_t now = micros();
  poll_sensor(now);
  // Signed difference: micros() wraps every 71 minutes.
  if ((int32_t)(now - pacer.next_due_us) < 0) return BOARD_IMU_NO_SAMPLE;
  if (!take_mean(&pacer.acceleration, imu_sensor_read_acceleration, kStandardGravity,
                 sample) ||
      !take_mean(&pacer.rotation, imu_sensor_read_rotation, kRadiansPerDegree, sample + 3)) {
    return BOARD_UNSUPPORTED;  // the sensor stopped answering
  }
  pacer.next_due_us += pacer.period_us;
  // More than a period behind (the loop was busy, e.g. a long inference): start the schedule
  // again from now instead of handing out a burst of samples that were never measured.
  if ((int32_t)(now - pacer.next_due_us) >= 0) pacer.next_due_us = now + pacer.period_us;
  return BOARD_IMU_OK;
}

void board_imu_stop(void) {
  if (pacer.running) imu_sensor_end();
  pacer.running = false;
}
