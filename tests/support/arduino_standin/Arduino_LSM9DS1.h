// STAND-IN, NOT THE LIBRARY. It only declares the part of Arduino_LSM9DS1 1.1.1's API
// (src/LSM9DS1.h: class LSM9DS1Class, the IMU_LSM9DS1 object and the IMU macro) that
// firmware/src/imu_sensor.cpp uses, so that tests/test_firmware_nano33ble.py can compile it and
// catch typos and signature drift. The real library was not available on the machine these
// tests run on. Nothing here runs.
#ifndef TINYML_TEST_ARDUINO_STANDIN_ARDUINO_LSM9DS1_H
#define TINYML_TEST_ARDUINO_STANDIN_ARDUINO_LSM9DS1_H

#include <Arduino.h>

class LSM9DS1Class {
 public:
  virtual ~LSM9DS1Class();

  int begin();
  void end();

  virtual int readAcceleration(float &x, float &y, float &z);  // in g
  virtual int accelerationAvailable();
  virtual float accelerationSampleRate();

  virtual int readGyroscope(float &x, float &y, float &z);  // in degrees per second
  virtual int gyroscopeAvailable();
  virtual float gyroscopeSampleRate();
};

extern LSM9DS1Class IMU_LSM9DS1;
#undef IMU
#define IMU IMU_LSM9DS1

#endif
