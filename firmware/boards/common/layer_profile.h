/* The per-layer profiler of the batch runs (batch_file.h), shared by the host and QEMU ports:
 * it prices each layer of a built-in plan in board_cycles() counts (instructions on QEMU,
 * nanoseconds on the host), and what an invoke costs around its layers.
 *
 * How (the figures add up exactly on QEMU, whose counter is deterministic):
 *   - the empty invoke is the measured invoke of INFER (tinyml_device_invoke) on a stand-in of
 *     the plan whose layers all run an empty kernel: everything the invoke costs apart from the
 *     kernels' own work (checks, input and output copies, the layer loop, the readings);
 *   - a layer's cost is the span of tinyml_plan_run_layers(plan, arena, i, i + 1) between two
 *     board_cycles() readings, less the same span around the empty kernel: the kernel's own
 *     counts beyond an empty kernel's.
 * So cost = empty invoke + the sum of the layer costs. All of it runs outside the measured
 * invoke, which it leaves unchanged.
 *
 * The ports' own part is board.h's board_cycles(). The device must run the built-in backend
 * (tinyml_builtin_backend_init): the profiler reads its plans and arena from its context. One
 * profile at a time: the stand-ins are static (no heap), and the last prepare wins. */
#ifndef BOARD_COMMON_LAYER_PROFILE_H
#define BOARD_COMMON_LAYER_PROFILE_H

#include <stdint.h>

#include "tinyml/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most layers a plan may have to be profiled: the stand-in layer table is a fixed array.
 * A port with RAM to spare may raise it (-D). */
#ifndef TINYML_PROFILE_MAX_LAYERS
#define TINYML_PROFILE_MAX_LAYERS 256u
#endif

/* The number of layers of `model`'s plan. */
uint16_t tinyml_profile_layer_count(const tinyml_device *device, uint16_t model);

/* Builds the empty stand-in of `model`'s plan. 0, or -1 when the plan has more layers than
 * TINYML_PROFILE_MAX_LAYERS. Call before the two functions below. */
int tinyml_profile_prepare(const tinyml_device *device, uint16_t model);

/* The measured invoke on the stand-in: *cost as tinyml_device_invoke measures it. `input` and
 * `output` should sit where the real invoke's do (same alignment), so the copies take the
 * same path. Leaves the device's backend as it found it. 0, or -1 when the invoke failed. */
int tinyml_profile_empty_invoke(tinyml_device *device, const void *input, void *output,
                                uint32_t *cost);

/* Places `input` in the arena and takes the empty kernel's span, before the layer costs of
 * one sample. */
void tinyml_profile_start(const tinyml_device *device, uint16_t model, const void *input);

/* The cost of running layer `layer` of `model`'s plan alone, on the arena as the previous
 * layers left it: call for layers 0, 1, ... in order after tinyml_profile_start. Clamped at 0
 * for a clock that is not deterministic (the host's). */
uint32_t tinyml_profile_layer(const tinyml_device *device, uint16_t model, uint16_t layer);

#ifdef __cplusplus
}
#endif

#endif /* BOARD_COMMON_LAYER_PROFILE_H */
