"""On-device validation: a test set streamed to boards or emulators, each output checked against
the desktop reference (tools/validation/validate.py)."""
