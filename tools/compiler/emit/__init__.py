"""Generators of the converter's C sources. Each returns text; nothing here writes files."""
