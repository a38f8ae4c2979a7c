/* The IMU live mode (sliding-window inference on the board) and the capture mode (raw samples
 * to the host). docs/protocol.md, LIVE_START and CAPTURE_START. */
#include <string.h>

#include "imu_modes.h"
#include "wire_format.h"

/* Samples handled per poll, so that a replayed stream, which is always due, cannot starve the
 * serial link (a STOP must get through). */
#define SAMPLES_PER_POLL 8

int8_t tinyml_quantize_sample(float value, float scale, int32_t zero_point) {
  float scaled = value / scale;
  int32_t floor_value, rounded;
  float fraction;
  if (!(scaled > -1000.0f)) scaled = -1000.0f; /* also catches NaN; saturates below anyway */
  if (scaled > 1000.0f) scaled = 1000.0f;
  floor_value = (int32_t)scaled;
  if ((float)floor_value > scaled) floor_value -= 1;
  fraction = scaled - (float)floor_value; /* exact: |scaled| is far below 2^23 */
  rounded = floor_value;
  if (fraction > 0.5f || (fraction == 0.5f && (floor_value & 1) != 0)) rounded += 1;
  rounded += zero_point;
  if (rounded < -128) rounded = -128;
  if (rounded > 127) rounded = 127;
  return (int8_t)rounded;
}

static uint32_t rate_to_hz(float rate) { return (uint32_t)(rate + 0.5f); }

/* Why a model cannot run live, or OK: int8 [1, steps, 6] in, int8 out, a rate and a per-channel
 * normalization, and a window that fits. */
static uint8_t live_model_status(const tinyml_model_info *info) {
  if (info->input.type != TINYML_TYPE_INT8 || info->output.type != TINYML_TYPE_INT8 ||
      info->input.rank != 3 || info->input.dims[0] != 1 ||
      info->input.dims[2] != BOARD_IMU_CHANNELS || info->input_mean == NULL ||
      info->input_std == NULL || info->input_channels != BOARD_IMU_CHANNELS ||
      !(info->sample_rate_hz > 0.0f) || info->input.bytes > TINYML_LIVE_MAX_WINDOW ||
      info->input.bytes > TINYML_MAX_PAYLOAD) {
    return TINYML_ERR_UNSUPPORTED;
  }
  return TINYML_STATUS_OK;
}

void tinyml_live_start(tinyml_device *device, uint16_t seq, const uint8_t *payload,
                       size_t length) {
  const uint8_t reply_type = TINYML_CMD_LIVE_START | TINYML_REPLY_FLAG;
  const tinyml_model_info *info;
  uint16_t model, hop, steps;
  payload_writer writer;
  uint8_t status;
  info = tinyml_requested_model(device, reply_type, seq, payload, length == 4);
  if (info == NULL) return;
  model = get_u16(payload);
  hop = get_u16(payload + 2);
  status = live_model_status(info);
  steps = (uint16_t)info->input.dims[1];
  if (status == TINYML_STATUS_OK && hop == 0) {
    uint32_t one_second = rate_to_hz(info->sample_rate_hz);
    hop = (uint16_t)(one_second == 0 ? 1 : one_second > steps ? steps : one_second);
  }
  if (status == TINYML_STATUS_OK && hop > steps) status = TINYML_ERR_BAD_ARGUMENT;
  if (status == TINYML_STATUS_OK && device->mode != TINYML_MODE_IDLE) status = TINYML_ERR_BUSY;
  if (status == TINYML_STATUS_OK && board_imu_start(rate_to_hz(info->sample_rate_hz)) != 0) {
    status = TINYML_ERR_UNSUPPORTED;
  }
  if (status != TINYML_STATUS_OK) {
    tinyml_send_status(device, reply_type, seq, status);
    return;
  }
  memset(&device->live, 0, sizeof device->live);
  device->live.model = model;
  device->live.steps = steps;
  device->live.hop = hop;
  device->mode = TINYML_MODE_LIVE;
  writer_init(&writer, device->reply, sizeof device->reply);
  put_u8(&writer, TINYML_STATUS_OK);
  put_u16(&writer, steps);
  put_u16(&writer, hop);
  put_f32(&writer, info->sample_rate_hz);
  tinyml_send(device, reply_type, seq, writer.data, writer.length);
}

void tinyml_capture_start(tinyml_device *device, uint16_t seq, const uint8_t *payload,
                          size_t length) {
  const uint8_t reply_type = TINYML_CMD_CAPTURE_START | TINYML_REPLY_FLAG;
  payload_writer writer;
  float rate;
  uint8_t status = TINYML_STATUS_OK;
  if (length != 8) {
    tinyml_send_status(device, reply_type, seq, TINYML_ERR_BAD_LENGTH);
    return;
  }
  rate = get_f32(payload);
  if (!(rate >= 0.5f && rate <= 100000.0f)) status = TINYML_ERR_BAD_ARGUMENT;
  if (status == TINYML_STATUS_OK && device->mode != TINYML_MODE_IDLE) status = TINYML_ERR_BUSY;
  if (status == TINYML_STATUS_OK && board_imu_start(rate_to_hz(rate)) != 0) {
    status = TINYML_ERR_UNSUPPORTED;
  }
  if (status != TINYML_STATUS_OK) {
    tinyml_send_status(device, reply_type, seq, status);
    return;
  }
  memset(&device->capture, 0, sizeof device->capture);
  device->capture.limit = get_u32(payload + 4);
  device->mode = TINYML_MODE_CAPTURE;
  writer_init(&writer, device->reply, sizeof device->reply);
  put_u8(&writer, TINYML_STATUS_OK);
  put_u8(&writer, BOARD_IMU_CHANNELS);
  put_f32(&writer, (float)rate_to_hz(rate));
  tinyml_send(device, reply_type, seq, writer.data, writer.length);
}

static void send_event(tinyml_device *device, uint8_t type, const payload_writer *writer) {
  tinyml_send(device, type, device->event_seq++, writer->data, writer->length);
}

static void live_take(tinyml_device *device, const float sample[BOARD_IMU_CHANNELS]) {
  tinyml_live_state *live = &device->live;
  const tinyml_model_info *info = device->backend->model_info(device->backend, live->model);
  uint8_t *slot = live->window + (size_t)(live->samples % live->steps) * BOARD_IMU_CHANNELS;
  size_t channel, oldest, output_bytes = info->output.bytes, best, index;
  payload_writer writer;
  uint32_t cost = 0, micros = 0;
  uint8_t *output;
  for (channel = 0; channel < BOARD_IMU_CHANNELS; ++channel) {
    float normalized = (sample[channel] - info->input_mean[channel]) / info->input_std[channel];
    slot[channel] = (uint8_t)tinyml_quantize_sample(normalized, info->input.scale,
                                                    info->input.zero_point);
  }
  live->samples++;
  if (live->samples < live->steps || (live->samples - live->steps) % live->hop != 0) return;
  /* The ring's oldest sample is the one the next sample will overwrite. */
  oldest = (size_t)(live->samples % live->steps) * BOARD_IMU_CHANNELS;
  memcpy(device->tensor, live->window + oldest, info->input.bytes - oldest);
  memcpy(device->tensor + (info->input.bytes - oldest), live->window, oldest);
  writer_init(&writer, device->reply, sizeof device->reply);
  put_u32(&writer, live->samples - 1);
  writer_reserve(&writer, 13); /* label, score, cost, micros: known after the invoke */
  output = writer_reserve(&writer, output_bytes);
  if (output == NULL ||
      tinyml_device_invoke(device, live->model, device->tensor, output, &cost, &micros) != 0) {
    tinyml_imu_stop(device, TINYML_END_IMU_FAILED);
    return;
  }
  best = 0;
  for (index = 1; index < output_bytes; ++index) {
    if ((int8_t)output[index] > (int8_t)output[best]) best = index;
  }
  {
    payload_writer result;
    writer_init(&result, device->reply + 4, 13);
    put_u8(&result, (uint8_t)best);
    put_f32(&result, info->output.scale * (float)((int8_t)output[best] - info->output.zero_point));
    put_u32(&result, cost);
    put_u32(&result, micros);
  }
  send_event(device, TINYML_EVENT_LIVE_RESULT, &writer);
}

static void capture_flush(tinyml_device *device) {
  tinyml_capture_state *capture = &device->capture;
  payload_writer writer;
  uint8_t sample, channel;
  if (capture->batched == 0) return;
  writer_init(&writer, device->reply, sizeof device->reply);
  put_u32(&writer, capture->first_index);
  put_u8(&writer, capture->batched);
  for (sample = 0; sample < capture->batched; ++sample) {
    for (channel = 0; channel < BOARD_IMU_CHANNELS; ++channel) {
      put_f32(&writer, capture->batch[sample][channel]);
    }
  }
  send_event(device, TINYML_EVENT_IMU_SAMPLES, &writer);
  capture->first_index += capture->batched;
  capture->batched = 0;
}

static void capture_take(tinyml_device *device, const float sample[BOARD_IMU_CHANNELS]) {
  tinyml_capture_state *capture = &device->capture;
  memcpy(capture->batch[capture->batched++], sample, sizeof capture->batch[0]);
  capture->samples++;
  if (capture->batched == TINYML_CAPTURE_BATCH) capture_flush(device);
  if (capture->limit != 0 && capture->samples >= capture->limit) {
    tinyml_imu_stop(device, TINYML_END_COMPLETE);
  }
}

void tinyml_imu_stop(tinyml_device *device, uint8_t reason) {
  payload_writer writer;
  uint32_t samples;
  if (device->mode == TINYML_MODE_IDLE) return;
  if (device->mode == TINYML_MODE_CAPTURE) {
    capture_flush(device);
    samples = device->capture.samples;
  } else {
    samples = device->live.samples;
  }
  board_imu_stop();
  device->mode = TINYML_MODE_IDLE;
  writer_init(&writer, device->reply, sizeof device->reply);
  put_u8(&writer, reason);
  put_u32(&writer, samples);
  send_event(device, TINYML_EVENT_STREAM_END, &writer);
}

void tinyml_imu_poll(tinyml_device *device) {
  int taken;
  for (taken = 0; taken < SAMPLES_PER_POLL && device->mode != TINYML_MODE_IDLE; ++taken) {
    float sample[BOARD_IMU_CHANNELS];
    int status = board_imu_read(sample);
    if (status == BOARD_IMU_NO_SAMPLE) break;
    if (status != BOARD_IMU_OK) {
      tinyml_imu_stop(device, status == BOARD_IMU_END ? TINYML_END_IMU_ENDED
                                                      : TINYML_END_IMU_FAILED);
      break;
    }
    if (device->mode == TINYML_MODE_LIVE) {
      live_take(device, sample);
    } else {
      capture_take(device, sample);
    }
  }
}
