// STAND-IN, NOT TFLITE MICRO. It only declares tflite::GetModel(), tflite::Model::version() and
// the walk from a model to its tensors' is_variable() (with the two flatbuffers templates it
// goes through), as tensorflow/lite/schema/schema_generated.h declares them in
// tensorflow/tflite-micro-arduino-examples at commit 7948b85e020470a30a83bf00e10fc43b486bfcba
// (the version platformio.ini pins), so that tests/test_firmware_nano33ble.py can compile
// firmware/src/tflm_backend.cpp and catch typos and signature drift. The real library was not
// available on the machine these tests run on. Nothing here runs.
#ifndef TINYML_TEST_TFLM_STANDIN_SCHEMA_GENERATED_H
#define TINYML_TEST_TFLM_STANDIN_SCHEMA_GENERATED_H

#include <stdint.h>

namespace flatbuffers {

typedef uint32_t uoffset_t;

template <typename T>
struct Offset {};

// Vector<Offset<T>>::Get returns const T *, as flatbuffers' IndirectHelper makes it.
template <typename T>
struct IndirectHelper {
  typedef T return_type;
};
template <typename T>
struct IndirectHelper<Offset<T>> {
  typedef const T *return_type;
};

template <typename T>
class Vector {
 public:
  uoffset_t size() const;
  typename IndirectHelper<T>::return_type Get(uoffset_t i) const;
};

}  // namespace flatbuffers

namespace tflite {

struct Tensor {
  bool is_variable() const;
};

struct SubGraph {
  const flatbuffers::Vector<flatbuffers::Offset<tflite::Tensor>> *tensors() const;
};

struct Model {
  uint32_t version() const;
  const flatbuffers::Vector<flatbuffers::Offset<tflite::SubGraph>> *subgraphs() const;
};

const tflite::Model *GetModel(const void *buf);

}  // namespace tflite

#endif
