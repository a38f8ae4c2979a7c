// STAND-IN, NOT TFLITE MICRO. It only declares tflite::Model::version() and tflite::GetModel()
// as tensorflow/lite/schema/schema_generated.h declares them in
// tensorflow/tflite-micro-arduino-examples at commit 7948b85e020470a30a83bf00e10fc43b486bfcba
// (the version platformio.ini pins), so that tests/test_firmware_nano33ble.py can compile
// firmware/src/tflm_backend.cpp and catch typos and signature drift. The real library was not
// available on the machine these tests run on. Nothing here runs.
#ifndef TINYML_TEST_TFLM_STANDIN_SCHEMA_GENERATED_H
#define TINYML_TEST_TFLM_STANDIN_SCHEMA_GENERATED_H

#include <stdint.h>

namespace tflite {

struct Model {
  uint32_t version() const;
};

const tflite::Model *GetModel(const void *buf);

}  // namespace tflite

#endif
