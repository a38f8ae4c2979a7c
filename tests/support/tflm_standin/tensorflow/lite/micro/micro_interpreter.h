// STAND-IN, NOT TFLITE MICRO. It only declares the part of tflite::MicroInterpreter's API that
// firmware/src/tflm_backend.cpp uses, with the signatures of tensorflow/lite/micro/
// micro_interpreter.h in tensorflow/tflite-micro-arduino-examples at commit
// 7948b85e020470a30a83bf00e10fc43b486bfcba (the version platformio.ini pins: no ErrorReporter
// argument, optional resource variables and profiler), so that tests/test_firmware_nano33ble.py
// can compile the backend and catch typos and signature drift. The real library was not
// available on the machine these tests run on. Nothing here runs.
#ifndef TINYML_TEST_TFLM_STANDIN_MICRO_INTERPRETER_H
#define TINYML_TEST_TFLM_STANDIN_MICRO_INTERPRETER_H

#include <stddef.h>
#include <stdint.h>

#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

#define TFLITE_SCHEMA_VERSION (3)

namespace tflite {

class MicroResourceVariables;
class MicroProfilerInterface;

class MicroInterpreter {
 public:
  // TFLM takes `const MicroOpResolver&`, a base class of MicroMutableOpResolver<N>. The older
  // stand-in resolver beside this one has no such base, so this accepts the derived template
  // directly; the other arguments are TFLM's, in TFLM's order.
  template <unsigned int tOpCount>
  MicroInterpreter(const Model *model, const MicroMutableOpResolver<tOpCount> &op_resolver,
                   uint8_t *tensor_arena, size_t tensor_arena_size,
                   MicroResourceVariables *resource_variables = nullptr,
                   MicroProfilerInterface *profiler = nullptr);

  ~MicroInterpreter();

  TfLiteStatus AllocateTensors();
  TfLiteStatus Invoke();
  TfLiteStatus Reset();  // the library's only public reset (no ResetVariableTensors())

  TfLiteTensor *input(size_t index);
  size_t inputs_size() const;
  TfLiteTensor *output(size_t index);
  size_t outputs_size() const;

  TfLiteStatus initialization_status() const;
  size_t arena_used_bytes() const;
};

}  // namespace tflite

#endif
