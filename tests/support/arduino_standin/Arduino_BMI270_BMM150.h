// STAND-IN, NOT THE LIBRARY. It only declares the part of Arduino_BMI270_BMM150 1.2.3's API
// (src/BoschSensorClass.h: CfgBoshSensor_t, class BoschSensorClass, the IMU_BMI270_BMM150 object
// and the IMU macro) that firmware/src/imu_sensor.cpp uses, so that
// tests/test_firmware_nano33ble.py can compile it and catch typos and signature drift. The real
// library was not available on the machine these tests run on. Nothing here runs.
#ifndef TINYML_TEST_ARDUINO_STANDIN_ARDUINO_BMI270_BMM150_H
#define TINYML_TEST_ARDUINO_STANDIN_ARDUINO_BMI270_BMM150_H

#include <Arduino.h>

typedef enum {
  BOSCH_ACCELEROMETER_ONLY,
  BOSCH_MAGNETOMETER_ONLY,
  BOSCH_ACCEL_AND_MAGN
} CfgBoshSensor_t;

class BoschSensorClass {
 public:
  ~BoschSensorClass() {}

  int begin(CfgBoshSensor_t cfg = BOSCH_ACCEL_AND_MAGN);
  void end();

  virtual int readAcceleration(float &x, float &y, float &z);  // in g
  virtual int accelerationAvailable();
  virtual float accelerationSampleRate();

  virtual int readGyroscope(float &x, float &y, float &z);  // in degrees per second
  virtual int gyroscopeAvailable();
  virtual float gyroscopeSampleRate();
};

extern BoschSensorClass IMU_BMI270_BMM150;
#undef IMU
#define IMU IMU_BMI270_BMM150

#endif
