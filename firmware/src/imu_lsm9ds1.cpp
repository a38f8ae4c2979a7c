// Nano 33 BLE Sense Rev1: the LSM9DS1 through Arduino_LSM9DS1. Built unless -DTINYML_IMU_BMI270.
#if !defined(TINYML_IMU_BMI270)

#include <Arduino_LSM9DS1.h>

#include "imu_sensor.h"

const char *const imu_sensor_board_name = "nano33ble-rev1";

bool imu_sensor_begin() { return IMU.begin() == 1; }

void imu_sensor_end() { IMU.end(); }

// The library runs accelerometer and gyroscope at 119 Hz (CTRL_REG1_G, CTRL_REG6_XL).
uint32_t imu_sensor_rate_hz() { return (uint32_t)IMU.accelerationSampleRate(); }

bool imu_sensor_acceleration_ready() { return IMU.accelerationAvailable() > 0; }

bool imu_sensor_rotation_ready() { return IMU.gyroscopeAvailable() > 0; }

bool imu_sensor_read_acceleration(float g[3]) {
  return IMU.readAcceleration(g[0], g[1], g[2]) == 1;
}

bool imu_sensor_read_rotation(float dps[3]) {
  return IMU.readGyroscope(dps[0], dps[1], dps[2]) == 1;
}

#endif  // !TINYML_IMU_BMI270
