// The TFLite Micro backend. Built with -DTINYML_BACKEND_TFLM (the nano33ble environments); uses
// only the API of the TFLM Arduino library that platformio.ini pins.
//
// One arena serves every model. The arena holds a model's tensors and also the interpreter's
// own state (its allocator, the graph, each kernel's prepared data), so two interpreters cannot
// share it at once. The backend keeps one interpreter, for the model invoked last; invoking
// another model destroys it and builds one for that model (AllocateTensors again). Repeated
// invokes of one model, which is what validation and the live mode do, reuse it. The arena needs
// only the largest model's size, not the sum.
//
// Every invoke starts from the model's initial state. TFLM keeps variable tensors (an LSTM's
// cell and hidden state) from one Invoke to the next; for a model that has any, the interpreter
// is reset first, as the built-in runtime and the desktop references do (one sample, one answer).
#if defined(TINYML_BACKEND_TFLM)

#include "tflm_backend.h"

// No Arduino.h in this file: the mbed core's abs() macro breaks TFLM's headers (std::abs).
#include <math.h>
#include <string.h>

#include <new>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tinyml_models.h"
#include "tinyml_models_op_resolver.h"

namespace {

// TFLM wants its arena 16-byte aligned to use all of it.
alignas(16) uint8_t arena[TINYML_TFLM_ARENA_BYTES];

tinyml_register_all_ops_resolver resolver;
bool resolver_ready = false;  // ops are registered once: the resolver cannot be emptied

// The interpreter lives here rather than on the heap.
alignas(tflite::MicroInterpreter) unsigned char
    interpreter_storage[sizeof(tflite::MicroInterpreter)];
tflite::MicroInterpreter *interpreter = nullptr;
int loaded_model = -1;  // the model `interpreter` was built for
bool loaded_has_state = false;  // whether that model has variable tensors

bool usable[TINYML_MODEL_COUNT];
uint32_t arena_used[TINYML_MODEL_COUNT];

void unload() {
  if (interpreter != nullptr) interpreter->~MicroInterpreter();
  interpreter = nullptr;
  loaded_model = -1;
}

TfLiteType tflite_type(uint8_t type) {
  switch (type) {
    case TINYML_TYPE_INT8:
      return kTfLiteInt8;
    case TINYML_TYPE_FLOAT32:
      return kTfLiteFloat32;
    case TINYML_TYPE_INT16:
      return kTfLiteInt16;
    default:
      return kTfLiteNoType;
  }
}

// The tensor contract the converter wrote into the model info must be the one TFLM reads from the
// flatbuffer: type, shape, size and quantization.
bool matches(const TfLiteTensor *tensor, const tinyml_tensor_info &info) {
  if (tensor == nullptr || tensor->dims == nullptr) return false;
  if (tensor->type != tflite_type(info.type) || tensor->bytes != info.bytes ||
      tensor->dims->size != info.rank) {
    return false;
  }
  for (int dim = 0; dim < info.rank; ++dim) {
    if (tensor->dims->data[dim] != info.dims[dim]) return false;
  }
  if (info.type == TINYML_TYPE_INT8 || info.type == TINYML_TYPE_INT16) {
    if (tensor->params.zero_point != info.zero_point) return false;
    // The converter writes the scale as a decimal literal, so allow its last digit.
    if (fabsf(tensor->params.scale - info.scale) > 1e-6f * fabsf(info.scale)) return false;
  }
  return true;
}

bool has_variable_tensors(const tflite::Model *model) {
  const auto *tensors = model->subgraphs()->Get(0)->tensors();
  if (tensors == nullptr) return false;
  for (flatbuffers::uoffset_t i = 0; i < tensors->size(); ++i) {
    if (tensors->Get(i)->is_variable()) return true;
  }
  return false;
}

// Makes `interpreter` the one for model `index`, building it in the arena if it is not.
bool load(uint16_t index) {
  if (loaded_model == index) return true;
  unload();
  const tinyml_tflm_model &entry = tinyml_tflm_models[index];
  const tflite::Model *model = tflite::GetModel(entry.model_data);
  if (model->version() != TFLITE_SCHEMA_VERSION) return false;
  interpreter = new (interpreter_storage)
      tflite::MicroInterpreter(model, resolver, arena, sizeof arena);
  bool ok = interpreter->initialization_status() == kTfLiteOk &&
            interpreter->AllocateTensors() == kTfLiteOk && interpreter->inputs_size() == 1 &&
            interpreter->outputs_size() == 1 &&
            matches(interpreter->input(0), entry.info->input) &&
            matches(interpreter->output(0), entry.info->output);
  if (!ok) {
    unload();
    return false;
  }
  loaded_model = index;
  loaded_has_state = has_variable_tensors(model);
  return true;
}

const tinyml_model_info *tflm_model_info(const tinyml_backend *, uint16_t index) {
  return tinyml_tflm_models[index].info;
}

// What this model used of the arena here on the board (32-bit pointers make it smaller than the
// converter's measurement on the host), or that measurement when it never loaded.
uint32_t tflm_ram_bytes(const tinyml_backend *, uint16_t index) {
  return arena_used[index] != 0 ? arena_used[index] : tinyml_tflm_models[index].arena_bytes;
}

// Switching models rebuilds the interpreter; the device calls this before it starts timing.
int tflm_prepare(const tinyml_backend *, uint16_t index) {
  return index < TINYML_MODEL_COUNT && usable[index] && load(index) ? 0 : -1;
}

int tflm_invoke(const tinyml_backend *self, uint16_t index, const void *input, void *output) {
  if (tflm_prepare(self, index) != 0) return -1;
  const tinyml_model_info *info = tinyml_tflm_models[index].info;
  // Reset() (the pinned TFLM's only public reset: ResetVariableTensors() left MicroInterpreter in
  // 2022) returns variable tensors to their zero points; it does not touch the input. Models
  // without state skip its walk over the model's tensors.
  if (loaded_has_state && interpreter->Reset() != kTfLiteOk) return -1;
  // An input or output already in place (a chunked transfer's) is not copied onto itself.
  if (input != interpreter->input(0)->data.data) {
    memcpy(interpreter->input(0)->data.data, input, info->input.bytes);
  }
  if (interpreter->Invoke() != kTfLiteOk) return -1;
  if (output != interpreter->output(0)->data.data) {
    memcpy(output, interpreter->output(0)->data.data, info->output.bytes);
  }
  return 0;
}

// The loaded interpreter's tensors; the device prepares the model first.
uint8_t *tflm_tensor_buffer(const tinyml_backend *self, uint16_t index, int output) {
  if (tflm_prepare(self, index) != 0) return nullptr;
  TfLiteTensor *tensor = output ? interpreter->output(0) : interpreter->input(0);
  return static_cast<uint8_t *>(tensor->data.data);
}

}  // namespace

int tinyml_tflm_backend_init(tinyml_backend *backend) {
  unload();
  if (!resolver_ready) {
    resolver_ready = tinyml_register_all_ops(resolver) == kTfLiteOk;
  }
  int failed = 0;
  for (uint16_t index = 0; index < TINYML_MODEL_COUNT; ++index) {
    usable[index] = resolver_ready && load(index);
    arena_used[index] = usable[index] ? (uint32_t)interpreter->arena_used_bytes() : 0;
    if (!usable[index]) ++failed;
  }
  backend->name = "tflm";
  backend->model_count = TINYML_MODEL_COUNT;
  backend->model_info = tflm_model_info;
  backend->ram_bytes = tflm_ram_bytes;
  backend->tensor_buffer = tflm_tensor_buffer;
  backend->layer_output = nullptr;  // TFLM keeps no layer boundaries we could report
  backend->prepare = tflm_prepare;
  backend->invoke = tflm_invoke;
  backend->context = nullptr;  // the state above is this file's: there is one TFLM backend
  return failed;
}

#endif  // TINYML_BACKEND_TFLM
