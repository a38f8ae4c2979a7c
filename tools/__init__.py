"""Host-side tools of tinyml-pipeline: model inspection, desktop reference runtimes, the CLI."""
