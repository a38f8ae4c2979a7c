"""The model compiler: turns an int8 .tflite into C sources for the firmware (TFLM model data,
settings, op resolver, the built-in runtime's plan, and the registry)."""
