/* The IMU live and capture modes, and what they share with the dispatcher. Internal to the
 * core. */
#ifndef TINYML_IMU_MODES_H
#define TINYML_IMU_MODES_H

#include <stddef.h>
#include <stdint.h>

#include "tinyml/device.h"

/* Frames and sends one message. */
void tinyml_send(tinyml_device *device, uint8_t type, uint16_t seq,
                        const uint8_t *payload, size_t length);
void tinyml_send_status(tinyml_device *device, uint8_t type, uint16_t seq,
                                uint8_t status);

/* The model a request names in its first two bytes; or NULL, after replying BAD_LENGTH (when
 * !length_ok) or UNKNOWN_MODEL. */
const tinyml_model_info *tinyml_requested_model(tinyml_device *device, uint8_t reply_type,
                                                uint16_t seq, const uint8_t *payload,
                                                int length_ok);

/* LIVE_START and CAPTURE_START: validate, start the IMU and reply. */
void tinyml_live_start(tinyml_device *device, uint16_t seq, const uint8_t *payload,
                       size_t length);
void tinyml_capture_start(tinyml_device *device, uint16_t seq, const uint8_t *payload,
                          size_t length);

/* Takes the samples that are due and sends the events they cause. */
void tinyml_imu_poll(tinyml_device *device);

/* Ends a running mode: flushes held samples, sends STREAM_END with `reason`, stops the IMU.
 * Does nothing when idle. */
void tinyml_imu_stop(tinyml_device *device, uint8_t reason);

/* float to int8 on the model's input scale, as the host's training code does it: float32
 * arithmetic, round half to even, saturate. */
int8_t tinyml_quantize_sample(float value, float scale, int32_t zero_point);

#endif /* TINYML_IMU_MODES_H */
