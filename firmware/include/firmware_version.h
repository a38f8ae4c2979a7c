/* The firmware's version, reported by hello; kept equal to the Python package's version in
 * pyproject.toml (a test checks). */
#ifndef FIRMWARE_VERSION_H
#define FIRMWARE_VERSION_H

#define TINYML_FIRMWARE_VERSION "0.1.0"

#endif /* FIRMWARE_VERSION_H */
