// STAND-IN, NOT TFLITE MICRO. It only declares the TfLiteTensor fields and types that
// firmware/src/tflm_backend.cpp reads, with the names and types of tensorflow/lite/core/c/common.h
// and c_api_types.h in tensorflow/tflite-micro-arduino-examples at commit
// 7948b85e020470a30a83bf00e10fc43b486bfcba (the version platformio.ini pins), so that
// tests/test_firmware_nano33ble.py can compile the backend and catch typos and signature drift.
// The real library was not available on the machine these tests run on. Nothing here runs.
#ifndef TINYML_TEST_TFLM_STANDIN_COMMON_H
#define TINYML_TEST_TFLM_STANDIN_COMMON_H

#include <stddef.h>
#include <stdint.h>

// TfLiteStatus comes from the older stand-in beside this one (it defines it for the generated op
// resolvers); TFLM defines it in c_api_types.h.
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

typedef enum {
  kTfLiteNoType = 0,
  kTfLiteFloat32 = 1,
  kTfLiteInt32 = 2,
  kTfLiteUInt8 = 3,
  kTfLiteInt16 = 7,
  kTfLiteInt8 = 9
} TfLiteType;

typedef struct TfLiteIntArray {
  int size;
  int data[];
} TfLiteIntArray;

typedef struct TfLiteQuantizationParams {
  float scale;
  int32_t zero_point;
} TfLiteQuantizationParams;

typedef union TfLitePtrUnion {
  int8_t *int8;
  float *f;
  void *data;
} TfLitePtrUnion;

typedef struct TfLiteTensor {
  TfLiteType type;
  TfLitePtrUnion data;
  TfLiteIntArray *dims;
  TfLiteQuantizationParams params;
  size_t bytes;
} TfLiteTensor;

#endif
