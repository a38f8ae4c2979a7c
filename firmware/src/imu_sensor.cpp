// The IMU of the board revision this build is for, through its Arduino library. Both libraries
// expose a global `IMU` with the same reading API; they differ in start-up and rate.
//   Rev1 (default): the LSM9DS1, Arduino_LSM9DS1.
//   Rev2 (-DTINYML_IMU_BMI270): the BMI270, Arduino_BMI270_BMM150, which turns the BMI270's axes
//   into the Rev1 frame on this board.
#include "imu_sensor.h"

#if defined(TINYML_IMU_BMI270)

#include <Arduino_BMI270_BMM150.h>

const char *const imu_sensor_board_name = "nano33ble-rev2";

// Accelerometer and gyroscope only: the models take no magnetometer channels.
bool imu_sensor_begin() { return IMU.begin(BOSCH_ACCELEROMETER_ONLY) == 1; }

// The library configures both at 100 Hz; asking the sensor would cost an I2C transfer.
uint32_t imu_sensor_rate_hz() { return 100; }

#else

#include <Arduino_LSM9DS1.h>

const char *const imu_sensor_board_name = "nano33ble-rev1";

bool imu_sensor_begin() { return IMU.begin() == 1; }

// The library runs accelerometer and gyroscope at 119 Hz (CTRL_REG1_G, CTRL_REG6_XL).
uint32_t imu_sensor_rate_hz() { return (uint32_t)IMU.accelerationSampleRate(); }

#endif

void imu_sensor_end() { IMU.end(); }

bool imu_sensor_acceleration_ready() { return IMU.accelerationAvailable() > 0; }

bool imu_sensor_rotation_ready() { return IMU.gyroscopeAvailable() > 0; }

bool imu_sensor_read_acceleration(float g[3]) {
  return IMU.readAcceleration(g[0], g[1], g[2]) == 1;
}

bool imu_sensor_read_rotation(float dps[3]) {
  return IMU.readGyroscope(dps[0], dps[1], dps[2]) == 1;
}
