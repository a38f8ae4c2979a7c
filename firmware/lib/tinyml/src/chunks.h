/* Tensors larger than one frame: INPUT_CHUNK writes the input in place, INFER with the staged
 * encoding runs it, OUTPUT_READ reads the output in place (docs/protocol.md). Internal to the
 * core; device.c dispatches to it. */
#ifndef TINYML_CHUNKS_H
#define TINYML_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "tinyml/device.h"

void tinyml_input_chunk(tinyml_device *device, uint16_t seq, const uint8_t *payload,
                        size_t length);
void tinyml_output_read(tinyml_device *device, uint16_t seq, const uint8_t *payload,
                        size_t length);

void tinyml_layer_output(tinyml_device *device, uint16_t seq, const uint8_t *payload,
                         size_t length);

/* The staged input of `model`, complete, or NULL; *status says why not. */
const uint8_t *tinyml_staged_input(tinyml_device *device, uint16_t model, uint8_t *status);

#endif /* TINYML_CHUNKS_H */
