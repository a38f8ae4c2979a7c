/* What both device-core harnesses share: one device over the committed models' built-in plans,
 * made fresh for every input, so no run sees another's state. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include "fuzz_board.h"
#include "tinyml/device.h"

/* A freshly initialized device on the built-in backend, the board reset to `config`. */
tinyml_device *fuzz_device_fresh(const fuzz_board_config *config);

#endif /* FUZZ_COMMON_H */
