/* The device: answers protocol requests from the serial link and runs the IMU live and capture
 * modes. All of its state is in one tinyml_device that the port owns, so a test can make as
 * many fresh ones as it likes. */
#ifndef TINYML_DEVICE_H
#define TINYML_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "tinyml/backend.h"
#include "tinyml/framing.h"
#include "tinyml/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest live-mode window (time steps x BOARD_IMU_CHANNELS int8 values). */
#ifndef TINYML_LIVE_MAX_WINDOW
#define TINYML_LIVE_MAX_WINDOW 1024
#endif

typedef enum { TINYML_MODE_IDLE = 0, TINYML_MODE_LIVE = 1, TINYML_MODE_CAPTURE = 2 } tinyml_mode;

/* IMU samples per IMU_SAMPLES event. */
#define TINYML_CAPTURE_BATCH 8

typedef struct {
  uint8_t window[TINYML_LIVE_MAX_WINDOW]; /* ring of quantized samples */
  uint16_t model;
  uint16_t steps;    /* window length in samples */
  uint16_t hop;      /* samples between inferences */
  uint32_t samples;  /* samples taken since start */
} tinyml_live_state;

typedef struct {
  float batch[TINYML_CAPTURE_BATCH][BOARD_IMU_CHANNELS];
  uint8_t batched;
  uint32_t first_index; /* index of batch[0] */
  uint32_t samples;     /* samples taken since start */
  uint32_t limit;       /* 0: until STOP */
} tinyml_capture_state;

/* A tensor larger than a frame, in the runtime's own memory (docs/protocol.md, "Tensors larger
 * than a frame"): how much of which model's input INPUT_CHUNK has written, and whose output
 * OUTPUT_READ may read. Any invoke ends both. */
typedef struct {
  uint16_t input_model;
  uint32_t input_bytes;  /* contiguous bytes written from offset 0; 0: none */
  uint16_t output_model;
  uint8_t output_valid;  /* the last invoke succeeded and nothing has touched its output */
  /* The last LAYER_OUTPUT's layer, readable at further offsets until anything else runs. */
  uint8_t layer_valid;
  uint16_t layer_model;
  uint16_t layer_index;
  tinyml_layer_result layer;
} tinyml_staging;

typedef struct {
  const tinyml_backend *backend;
  const char *firmware_version;
  tinyml_rx rx;
  /* The input tensor, whatever its encoding on the wire. Aligned, so that the invoke's copy of
   * it into the arena (inside the measured span) takes the same path for every request. */
  uint8_t tensor[TINYML_MAX_PAYLOAD] __attribute__((aligned(16)));
  uint8_t reply[TINYML_MAX_PAYLOAD];      /* payload being built */
  uint8_t wire[TINYML_WIRE_MAX_BYTES];    /* encoded frame being sent */
  uint16_t event_seq;
  tinyml_mode mode;
  tinyml_live_state live;
  tinyml_capture_state capture;
  tinyml_staging staging;
} tinyml_device;

void tinyml_device_init(tinyml_device *device, const tinyml_backend *backend,
                        const char *firmware_version);

/* Handles whatever serial bytes have arrived and, in live or capture mode, the IMU. Call it
 * from the main loop. Returns 0, or -1 once the serial link is closed for good. */
int tinyml_device_poll(tinyml_device *device);

/* Handles received bytes directly (what poll does with board_serial_read's bytes). */
void tinyml_device_receive(tinyml_device *device, const uint8_t *data, size_t length);

/* Runs one inference of model `model` (an index below the backend's model_count) as INFER does
 * and measures it: *cost in board_cycles() counts, *micros in board_micros(). Public so that a
 * port's own drivers (the QEMU image's batch mode) measure exactly what the protocol reports.
 * Returns 0 on success. */
int tinyml_device_invoke(tinyml_device *device, uint16_t model, const void *input,
                         void *output, uint32_t *cost, uint32_t *micros);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_DEVICE_H */
