/* What both backends (TFLite Micro and the built-in runtime) say about a model: its identity
 * and its tensor contract. Generated per model by `tinyml convert` (<name>_settings.c). */
#ifndef TINYML_MODEL_INFO_H
#define TINYML_MODEL_INFO_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TINYML_TYPE_INT8 = 0,
  TINYML_TYPE_FLOAT32 = 1,
  TINYML_TYPE_INT16 = 2 /* 16x8 models: symmetric, zero point 0 */
} tinyml_type;

#define TINYML_MAX_RANK 6

typedef struct {
  uint8_t type;   /* tinyml_type */
  uint8_t rank;
  int32_t dims[TINYML_MAX_RANK];
  uint32_t bytes;
  float scale;
  int32_t zero_point;
} tinyml_tensor_info;

typedef struct {
  const char *name;
  const char *sha256;  /* of the .tflite the model was compiled from, lowercase hex */
  tinyml_tensor_info input;
  tinyml_tensor_info output;
  const char *const *labels; /* output class names, or NULL */
  uint16_t label_count;
  /* Per-channel input normalization the host applies before quantizing: (x - mean) / std.
   * NULL when the model takes raw values. */
  const float *input_mean;
  const float *input_std;
  uint16_t input_channels;
  /* Rate of the time series the model was trained on (the IMU live mode samples at it), or 0
   * when the input is not a time series. */
  float sample_rate_hz;
} tinyml_model_info;

#ifdef __cplusplus
}
#endif

#endif /* TINYML_MODEL_INFO_H */
