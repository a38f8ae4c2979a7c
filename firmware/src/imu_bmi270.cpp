// Nano 33 BLE Sense Rev2: the BMI270 through Arduino_BMI270_BMM150. Built with
// -DTINYML_IMU_BMI270. On this board the library turns the BMI270's axes into the Rev1 frame.
#if defined(TINYML_IMU_BMI270)

#include <Arduino_BMI270_BMM150.h>

#include "imu_sensor.h"

const char *const imu_sensor_board_name = "nano33ble-rev2";

// Accelerometer and gyroscope only: the models take no magnetometer channels.
bool imu_sensor_begin() { return IMU.begin(BOSCH_ACCELEROMETER_ONLY) == 1; }

void imu_sensor_end() { IMU.end(); }

// The library configures both at 100 Hz; asking the sensor would cost an I2C transfer.
uint32_t imu_sensor_rate_hz() { return 100; }

bool imu_sensor_acceleration_ready() { return IMU.accelerationAvailable() > 0; }

bool imu_sensor_rotation_ready() { return IMU.gyroscopeAvailable() > 0; }

bool imu_sensor_read_acceleration(float g[3]) {
  return IMU.readAcceleration(g[0], g[1], g[2]) == 1;
}

bool imu_sensor_read_rotation(float dps[3]) {
  return IMU.readGyroscope(dps[0], dps[1], dps[2]) == 1;
}

#endif  // TINYML_IMU_BMI270
