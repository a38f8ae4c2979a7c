/* The request dispatcher: one reply per request, in order. docs/protocol.md is the spec. */
#include "tinyml/device.h"

#include <string.h>

#include "chunks.h"
#include "imu_modes.h"
#include "wire_format.h"

/* Bytes read from the link per board_serial_read() call. */
#define SERIAL_CHUNK 64

void tinyml_send(tinyml_device *device, uint8_t type, uint16_t seq,
                        const uint8_t *payload, size_t length) {
  size_t wire_length = tinyml_frame_encode(type, seq, payload, length, device->wire);
  board_serial_write(device->wire, wire_length);
}

void tinyml_send_status(tinyml_device *device, uint8_t type, uint16_t seq, uint8_t status) {
  tinyml_send(device, type, seq, &status, 1);
}

/* Sends the payload built in device->reply, or OVERSIZED when it did not fit. */
static void reply_built(tinyml_device *device, uint8_t type, uint16_t seq,
                        const payload_writer *writer) {
  if (writer->overflow) {
    tinyml_send_status(device, type, seq, TINYML_ERR_OVERSIZED);
  } else {
    tinyml_send(device, type, seq, writer->data, writer->length);
  }
}

static void handle_hello(tinyml_device *device, uint16_t seq) {
  const board_identity_t *identity = board_identity();
  payload_writer writer;
  writer_init(&writer, device->reply, sizeof device->reply);
  put_u8(&writer, TINYML_STATUS_OK);
  put_u8(&writer, TINYML_PROTOCOL_VERSION);
  put_u16(&writer, TINYML_MAX_PAYLOAD);
  put_u16(&writer, device->backend->model_count);
  put_u8(&writer, identity->has_imu ? TINYML_FEATURE_IMU : 0);
  put_u32(&writer, identity->cpu_hz);
  put_u32(&writer, identity->cost_hz);
  put_str(&writer, device->firmware_version);
  put_str(&writer, identity->board);
  put_str(&writer, device->backend->name);
  put_str(&writer, identity->cost_unit);
  reply_built(device, TINYML_CMD_HELLO | TINYML_REPLY_FLAG, seq, &writer);
}

static void put_tensor(payload_writer *writer, const tinyml_tensor_info *tensor) {
  uint8_t dim;
  put_u8(writer, tensor->type);
  put_u8(writer, tensor->rank);
  for (dim = 0; dim < tensor->rank; ++dim) put_u32(writer, (uint32_t)tensor->dims[dim]);
  put_u32(writer, tensor->bytes);
  put_f32(writer, tensor->scale);
  put_u32(writer, (uint32_t)tensor->zero_point);
}

/* The .tflite's sha256 travels as 32 raw bytes; the info holds it as hex. */
static void put_sha256(payload_writer *writer, const char *hex) {
  uint8_t *at = writer_reserve(writer, 32);
  size_t index;
  if (at == NULL) return;
  for (index = 0; index < 32; ++index) {
    uint8_t value = 0;
    int half;
    for (half = 0; half < 2; ++half) {
      char digit = hex != NULL && strlen(hex) == 64 ? hex[2 * index + half] : '0';
      value = (uint8_t)(value << 4);
      if (digit >= '0' && digit <= '9') value |= (uint8_t)(digit - '0');
      if (digit >= 'a' && digit <= 'f') value |= (uint8_t)(digit - 'a' + 10);
    }
    at[index] = value;
  }
}

const tinyml_model_info *tinyml_requested_model(tinyml_device *device, uint8_t reply_type,
                                                uint16_t seq, const uint8_t *payload,
                                                int length_ok) {
  uint16_t index;
  if (!length_ok) {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_BAD_LENGTH);
    return NULL;
  }
  index = get_u16(payload);
  if (index >= device->backend->model_count) {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_UNKNOWN_MODEL);
    return NULL;
  }
  return device->backend->model_info(device->backend, index);
}

static void handle_model_info(tinyml_device *device, uint16_t seq, const uint8_t *payload,
                              size_t length) {
  const uint8_t reply_type = TINYML_CMD_MODEL_INFO | TINYML_REPLY_FLAG;
  const tinyml_model_info *info;
  payload_writer writer;
  uint16_t index, item;
  info = tinyml_requested_model(device, reply_type, seq, payload, length == 2);
  if (info == NULL) return;
  index = get_u16(payload);
  writer_init(&writer, device->reply, sizeof device->reply);
  put_u8(&writer, TINYML_STATUS_OK);
  put_u16(&writer, index);
  put_str(&writer, info->name);
  put_sha256(&writer, info->sha256);
  put_u32(&writer, device->backend->ram_bytes(device->backend, index));
  put_tensor(&writer, &info->input);
  put_tensor(&writer, &info->output);
  put_f32(&writer, info->sample_rate_hz);
  if (info->input_mean != NULL && info->input_std != NULL && info->input_channels <= 255) {
    put_u8(&writer, (uint8_t)info->input_channels);
    for (item = 0; item < info->input_channels; ++item) put_f32(&writer, info->input_mean[item]);
    for (item = 0; item < info->input_channels; ++item) put_f32(&writer, info->input_std[item]);
  } else {
    put_u8(&writer, 0);
  }
  put_u16(&writer, info->labels != NULL ? info->label_count : 0);
  for (item = 0; info->labels != NULL && item < info->label_count; ++item) {
    put_str(&writer, info->labels[item]);
  }
  reply_built(device, reply_type, seq, &writer);
}

/* Expands the zero-runs encoding into device->tensor. Returns a status code. */
static uint8_t decode_zero_runs(uint8_t *tensor, size_t expected, const uint8_t *data,
                                size_t length, uint8_t zero_byte) {
  size_t read = 0, written = 0;
  while (read < length) {
    size_t zeros, count;
    if (length - read < 2) return TINYML_ERR_BAD_ENCODING;
    zeros = data[read];
    count = data[read + 1];
    read += 2;
    if (count > length - read) return TINYML_ERR_BAD_ENCODING;
    if (zeros + count > expected - written) return TINYML_ERR_BAD_INPUT_LENGTH;
    memset(tensor + written, zero_byte, zeros);
    written += zeros;
    memcpy(tensor + written, data + read, count);
    written += count;
    read += count;
  }
  return written == expected ? TINYML_STATUS_OK : TINYML_ERR_BAD_INPUT_LENGTH;
}

int tinyml_device_invoke(tinyml_device *device, uint16_t model, const void *input,
                         void *output, uint32_t *cost, uint32_t *micros) {
  const tinyml_backend *backend = device->backend;
  uint32_t cost_start, micros_start;
  int status;
  if (backend->prepare != NULL && backend->prepare(backend, model) != 0) return -1;
  cost_start = board_cycles();
  micros_start = board_micros();
  status = backend->invoke(backend, model, input, output);
  *cost = board_cycles() - cost_start;
  *micros = board_micros() - micros_start;
  /* The run may reuse the input's memory; its output is readable until something else runs. */
  device->staging.input_bytes = 0;
  device->staging.output_model = model;
  device->staging.output_valid = status == 0;
  device->staging.layer_valid = 0;
  return status;
}

static void handle_infer(tinyml_device *device, uint16_t seq, const uint8_t *payload,
                         size_t length) {
  const uint8_t reply_type = TINYML_CMD_INFER | TINYML_REPLY_FLAG;
  const tinyml_model_info *info;
  const uint8_t *input;
  size_t data_length;
  uint16_t model;
  uint32_t cost, micros;
  payload_writer writer;
  uint8_t *output;
  info = tinyml_requested_model(device, reply_type, seq, payload, length >= 3);
  if (info == NULL) return;
  model = get_u16(payload);
  data_length = length - 3;
  if (payload[2] == TINYML_ENCODING_RAW) {
    if (data_length != info->input.bytes) {
      tinyml_send_status(device, reply_type, seq, TINYML_ERR_BAD_INPUT_LENGTH);
      return;
    }
    /* Copied, outside the measured span, so that the cost does not depend on the encoding. */
    memcpy(device->tensor, payload + 3, data_length);
    input = device->tensor;
  } else if (payload[2] == TINYML_ENCODING_ZERO_RUNS) {
    uint8_t status;
    if (info->input.bytes > sizeof device->tensor) {
      tinyml_send_status(device, reply_type, seq, TINYML_ERR_OVERSIZED);
      return;
    }
    status = decode_zero_runs(device->tensor, info->input.bytes, payload + 3, data_length,
                              (uint8_t)(int8_t)info->input.zero_point);
    if (status != TINYML_STATUS_OK) {
      tinyml_send_status(device, reply_type, seq, status);
      return;
    }
    input = device->tensor;
  } else if (payload[2] == TINYML_ENCODING_STAGED) {
    uint8_t status = TINYML_ERR_BAD_LENGTH;
    input = data_length == 0 ? tinyml_staged_input(device, model, &status) : NULL;
    if (input == NULL) {
      tinyml_send_status(device, reply_type, seq, status);
      return;
    }
  } else {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_BAD_ENCODING);
    return;
  }
  writer_init(&writer, device->reply, sizeof device->reply);
  put_u8(&writer, TINYML_STATUS_OK);
  writer_reserve(&writer, 8); /* cost and micros, filled in after the invoke */
  if (info->output.bytes <= writer.capacity - writer.length) {
    output = writer_reserve(&writer, info->output.bytes);
  } else if (device->backend->tensor_buffer != NULL) {
    /* Too large for the reply: left in place for OUTPUT_READ, and the reply carries none. */
    output = device->backend->tensor_buffer(device->backend, model, 1);
    if (output == NULL) {
      tinyml_send_status(device, reply_type, seq, TINYML_ERR_INVOKE_FAILED);
      return;
    }
  } else {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_OVERSIZED);
    return;
  }
  if (tinyml_device_invoke(device, model, input, output, &cost, &micros) != 0) {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_INVOKE_FAILED);
    return;
  }
  {
    payload_writer timing;
    writer_init(&timing, device->reply + 1, 8);
    put_u32(&timing, cost);
    put_u32(&timing, micros);
  }
  reply_built(device, reply_type, seq, &writer);
}

static void handle_frame(tinyml_device *device, uint8_t type, uint16_t seq,
                         const uint8_t *payload, size_t length) {
  const uint8_t reply_type = (uint8_t)(type | TINYML_REPLY_FLAG);
  switch (type) {
    case TINYML_CMD_HELLO:
      if (length != 0) {
        tinyml_send_status(device, reply_type, seq, TINYML_ERR_BAD_LENGTH);
      } else {
        handle_hello(device, seq);
      }
      break;
    case TINYML_CMD_MODEL_INFO:
      handle_model_info(device, seq, payload, length);
      break;
    case TINYML_CMD_INFER:
      handle_infer(device, seq, payload, length);
      break;
    case TINYML_CMD_LIVE_START:
      tinyml_live_start(device, seq, payload, length);
      break;
    case TINYML_CMD_INPUT_CHUNK:
      tinyml_input_chunk(device, seq, payload, length);
      break;
    case TINYML_CMD_OUTPUT_READ:
      tinyml_output_read(device, seq, payload, length);
      break;
    case TINYML_CMD_LAYER_OUTPUT:
      tinyml_layer_output(device, seq, payload, length);
      break;
    case TINYML_CMD_CAPTURE_START:
      tinyml_capture_start(device, seq, payload, length);
      break;
    case TINYML_CMD_STOP:
      if (length != 0) {
        tinyml_send_status(device, reply_type, seq, TINYML_ERR_BAD_LENGTH);
      } else {
        tinyml_imu_stop(device, TINYML_END_STOPPED);
        tinyml_send_status(device, reply_type, seq, TINYML_STATUS_OK);
      }
      break;
    default:
      tinyml_send_status(device, TINYML_TYPE_FRAME_ERROR, seq, TINYML_ERR_UNKNOWN_COMMAND);
      break;
  }
}

void tinyml_device_init(tinyml_device *device, const tinyml_backend *backend,
                        const char *firmware_version) {
  memset(device, 0, sizeof *device);
  device->backend = backend;
  device->firmware_version = firmware_version;
  tinyml_rx_reset(&device->rx);
}

void tinyml_device_receive(tinyml_device *device, const uint8_t *data, size_t length) {
  while (length > 0) {
    size_t consumed = 0;
    tinyml_rx_result result = tinyml_rx_feed(&device->rx, data, length, &consumed);
    if (result == TINYML_RX_FRAME) {
      handle_frame(device, device->rx.type, device->rx.seq, device->rx.payload,
                   device->rx.payload_length);
    } else if (result == TINYML_RX_ERROR) {
      tinyml_send_status(device, TINYML_TYPE_FRAME_ERROR, device->rx.seq, device->rx.error);
    }
    data += consumed;
    length -= consumed;
  }
}

int tinyml_device_poll(tinyml_device *device) {
  uint8_t chunk[SERIAL_CHUNK];
  int received = board_serial_read(chunk, sizeof chunk);
  if (received < 0) return -1;
  if (received > 0) tinyml_device_receive(device, chunk, (size_t)received);
  tinyml_imu_poll(device);
  return 0;
}
