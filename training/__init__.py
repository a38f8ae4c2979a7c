"""Training of the three tinyml-pipeline models and their int8 TFLite export.

Importing any module here has no side effects: TensorFlow is imported only inside the functions
that need it, so the CLI starts fast and tests can import the pure-Python parts cheaply.
"""
