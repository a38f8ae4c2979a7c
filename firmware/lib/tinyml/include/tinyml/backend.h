/* The one interface both runtimes sit behind: how many models, what each one is, and invoke.
 * The built-in runtime implements it in builtin_backend.c, TFLite Micro in firmware/src/. */
#ifndef TINYML_BACKEND_H
#define TINYML_BACKEND_H

#include <stdint.h>

#include "tinyml/model_info.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tinyml_backend tinyml_backend;

/* One layer's result, in the runtime's memory (LAYER_OUTPUT). */
typedef struct {
  const char *op;       /* TFLite builtin name */
  const uint8_t *data;  /* the layer's output tensor */
  uint32_t bytes;
  uint16_t layer_count; /* of the model's plan */
} tinyml_layer_result;

struct tinyml_backend {
  const char *name; /* "builtin" or "tflm" */
  uint16_t model_count;
  const tinyml_model_info *(*model_info)(const tinyml_backend *self, uint16_t index);
  /* RAM the model needs besides its weights: the plan's activation arena, or TFLM's arena. */
  uint32_t (*ram_bytes)(const tinyml_backend *self, uint16_t index);
  /* Optional (NULL when not needed): gets model `index` ready to invoke, so that the timed
   * invoke measures inference alone; TFLM builds the model's interpreter here. Returns 0 on
   * success. */
  int (*prepare)(const tinyml_backend *self, uint16_t index);
  /* Runs one inference: input and output are info->input.bytes and info->output.bytes long.
   * Returns 0 on success. */
  int (*invoke)(const tinyml_backend *self, uint16_t index, const void *input, void *output);
  /* Optional (NULL: tensors must fit one frame): where model `index`'s input (output 0) or
   * output (output 1) lives in the runtime's own memory, once prepared. invoke accepts these
   * addresses as its input and output and then copies nothing, so a tensor larger than a frame
   * is written and read in place, with no second buffer of its size. */
  uint8_t *(*tensor_buffer)(const tinyml_backend *self, uint16_t index, int output);
  /* Optional (NULL: the runtime has no layers to show, as TFLM's): runs layers 0 to `layer` of
   * model `index` on the input written in place (tensor_buffer) and gives that layer's output,
   * so a host can find the first layer where the device departs from TFLM. Returns 0, 1 when
   * the model has no such layer (result->layer_count says how many), -1 on failure. */
  int (*layer_output)(const tinyml_backend *self, uint16_t index, uint16_t layer,
                      tinyml_layer_result *result);
  void *context;
};

#ifdef __cplusplus
}
#endif

#endif /* TINYML_BACKEND_H */
