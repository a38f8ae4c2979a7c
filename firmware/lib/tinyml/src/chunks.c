/* INPUT_CHUNK and OUTPUT_READ: see chunks.h. */
#include "chunks.h"

#include <string.h>

#include "imu_modes.h"
#include "wire_format.h"

/* model u16, offset u32, length u16 */
#define CHUNK_HEADER_BYTES 8u

/* The tensor buffer of the requested model, or NULL after replying why not. A live mode invokes
 * on its own, which would overwrite a tensor in place, so chunks wait for it to end. */
static uint8_t *chunk_target(tinyml_device *device, uint8_t reply_type, uint16_t seq,
                             const uint8_t *payload, size_t length, int output,
                             const tinyml_model_info **info) {
  const tinyml_backend *backend = device->backend;
  uint16_t model;
  uint8_t *buffer;
  *info = tinyml_requested_model(device, reply_type, seq, payload, length >= CHUNK_HEADER_BYTES);
  if (*info == NULL) return NULL;
  model = get_u16(payload);
  /* Preparing another model may rebuild the tensors (TFLM), so what was staged is gone. */
  if (model != device->staging.input_model) device->staging.input_bytes = 0;
  if (model != device->staging.output_model) device->staging.output_valid = 0;
  if (backend->tensor_buffer == NULL) {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_UNSUPPORTED);
    return NULL;
  }
  if (device->mode != TINYML_MODE_IDLE) {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_BUSY);
    return NULL;
  }
  /* TFLM builds a model's tensors when it is prepared; the built-in plan needs nothing. */
  if (backend->prepare != NULL && backend->prepare(backend, model) != 0) {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_INVOKE_FAILED);
    return NULL;
  }
  buffer = backend->tensor_buffer(backend, model, output);
  if (buffer == NULL) tinyml_send_status(device, reply_type, seq, TINYML_ERR_INVOKE_FAILED);
  return buffer;
}

/* offset and length within a tensor of `bytes`, and a length that is not 0. */
static int range_ok(uint32_t offset, uint32_t length, uint32_t bytes) {
  return length > 0 && offset <= bytes && length <= bytes - offset;
}

void tinyml_input_chunk(tinyml_device *device, uint16_t seq, const uint8_t *payload,
                        size_t length) {
  const uint8_t reply_type = TINYML_CMD_INPUT_CHUNK | TINYML_REPLY_FLAG;
  tinyml_staging *staging = &device->staging;
  const tinyml_model_info *info;
  uint8_t *buffer = chunk_target(device, reply_type, seq, payload, length, 0, &info);
  uint16_t model;
  uint32_t offset, count;
  payload_writer writer;
  if (buffer == NULL) return;
  model = get_u16(payload);
  offset = get_u32(payload + 2);
  count = get_u16(payload + 6);
  if (count != length - CHUNK_HEADER_BYTES) {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_BAD_LENGTH);
    return;
  }
  /* Offset 0 starts an input; any other chunk continues this model's without a gap. Rewriting
   * bytes already written is allowed, so a chunk resent after a lost reply does no harm. */
  if (!range_ok(offset, count, info->input.bytes) ||
      (offset != 0 && (staging->input_model != model || offset > staging->input_bytes))) {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_BAD_ARGUMENT);
    return;
  }
  if (offset == 0) {
    staging->input_model = model;
    staging->input_bytes = 0;
  }
  /* The output's bytes, and any layer's, may share the memory the input is written to. */
  staging->output_valid = 0;
  staging->layer_valid = 0;
  memcpy(buffer + offset, payload + CHUNK_HEADER_BYTES, count);
  if (offset + count > staging->input_bytes) staging->input_bytes = offset + count;
  writer_init(&writer, device->reply, sizeof device->reply);
  put_u8(&writer, TINYML_STATUS_OK);
  put_u32(&writer, staging->input_bytes);
  tinyml_send(device, reply_type, seq, writer.data, writer.length);
}

const uint8_t *tinyml_staged_input(tinyml_device *device, uint16_t model, uint8_t *status) {
  const tinyml_backend *backend = device->backend;
  const tinyml_staging *staging = &device->staging;
  const tinyml_model_info *info = backend->model_info(backend, model);
  if (backend->tensor_buffer == NULL) {
    *status = TINYML_ERR_UNSUPPORTED;
    return NULL;
  }
  if (staging->input_model != model || staging->input_bytes != info->input.bytes) {
    *status = TINYML_ERR_BAD_INPUT_LENGTH;
    return NULL;
  }
  *status = TINYML_STATUS_OK;
  return backend->tensor_buffer(backend, model, 0);
}

void tinyml_output_read(tinyml_device *device, uint16_t seq, const uint8_t *payload,
                        size_t length) {
  const uint8_t reply_type = TINYML_CMD_OUTPUT_READ | TINYML_REPLY_FLAG;
  const tinyml_staging *staging = &device->staging;
  const tinyml_model_info *info;
  uint8_t *buffer;
  uint32_t offset, count;
  payload_writer writer;
  if (length != CHUNK_HEADER_BYTES) {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_BAD_LENGTH);
    return;
  }
  buffer = chunk_target(device, reply_type, seq, payload, length, 1, &info);
  if (buffer == NULL) return;
  offset = get_u32(payload + 2);
  count = get_u16(payload + 6);
  /* Only the last invoke's output, of this model, and as much as one reply holds. */
  if (!staging->output_valid || staging->output_model != get_u16(payload) ||
      !range_ok(offset, count, info->output.bytes) || count > sizeof device->reply - 1u) {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_BAD_ARGUMENT);
    return;
  }
  writer_init(&writer, device->reply, sizeof device->reply);
  put_u8(&writer, TINYML_STATUS_OK);
  put_bytes(&writer, buffer + offset, count);
  tinyml_send(device, reply_type, seq, writer.data, writer.length);
}

/* model u16, layer u16, offset u32, length u16 */
#define LAYER_REQUEST_BYTES 10u

void tinyml_layer_output(tinyml_device *device, uint16_t seq, const uint8_t *payload,
                         size_t length) {
  const uint8_t reply_type = TINYML_CMD_LAYER_OUTPUT | TINYML_REPLY_FLAG;
  const tinyml_backend *backend = device->backend;
  tinyml_staging *staging = &device->staging;
  const tinyml_model_info *info;
  uint16_t model, layer;
  uint32_t offset, count, room;
  size_t op_length;
  uint8_t status;
  payload_writer writer;
  info = tinyml_requested_model(device, reply_type, seq, payload, length == LAYER_REQUEST_BYTES);
  if (info == NULL) return;
  model = get_u16(payload);
  layer = get_u16(payload + 2);
  offset = get_u32(payload + 4);
  count = get_u16(payload + 8);
  if (backend->layer_output == NULL) {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_UNSUPPORTED);
    return;
  }
  if (device->mode != TINYML_MODE_IDLE) {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_BUSY);
    return;
  }
  if (offset == 0) {
    /* Offset 0 runs the layers on the staged input, which the run consumes. */
    int found;
    if (tinyml_staged_input(device, model, &status) == NULL) {
      tinyml_send_status(device, reply_type, seq, status);
      return;
    }
    found = backend->layer_output(backend, model, layer, &staging->layer);
    staging->input_bytes = 0;
    staging->output_valid = 0;
    if (found != 0) {
      staging->layer_valid = 0;
      tinyml_send_status(device, reply_type, seq,
                         found == 1 ? TINYML_ERR_BAD_ARGUMENT : TINYML_ERR_INVOKE_FAILED);
      return;
    }
    staging->layer_valid = 1;
    staging->layer_model = model;
    staging->layer_index = layer;
  } else if (!staging->layer_valid || staging->layer_model != model ||
             staging->layer_index != layer) {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_BAD_ARGUMENT);
    return;
  }
  op_length = strlen(staging->layer.op);
  /* status, layer_count, bytes, the op's name, then the data */
  room = (uint32_t)(sizeof device->reply - 1u - 2u - 4u - 1u - op_length);
  /* As much as asked, the reply holds and the layer has left from `offset`. */
  if (count > room) count = room;
  if (offset < staging->layer.bytes && count > staging->layer.bytes - offset) {
    count = staging->layer.bytes - offset;
  }
  if (!range_ok(offset, count, staging->layer.bytes)) {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_BAD_ARGUMENT);
    return;
  }
  writer_init(&writer, device->reply, sizeof device->reply);
  put_u8(&writer, TINYML_STATUS_OK);
  put_u16(&writer, staging->layer.layer_count);
  put_u32(&writer, staging->layer.bytes);
  put_u8(&writer, (uint8_t)op_length);
  put_bytes(&writer, (const uint8_t *)staging->layer.op, op_length);
  put_bytes(&writer, staging->layer.data + offset, count);
  tinyml_send(device, reply_type, seq, writer.data, writer.length);
}
