"""Errors of the model compiler: one line naming the op and where it sits."""

from tinyml_pipeline.tools.errors import ModelError


class CompileError(ModelError):
    """A model the built-in runtime cannot run, or a model that is malformed."""
