"""One error hierarchy: the CLI catches ArchspecError, prints one line, exits 2."""

from __future__ import annotations


class ArchspecError(Exception):
    """Root of every error archspec raises for bad user input."""


class SpecError(ArchspecError, ValueError):
    """A spec (or recipe) file or value is invalid; the message names file:line:col and field."""


class DataError(ArchspecError):
    """A data file is missing, truncated or corrupt."""


class CheckpointError(ArchspecError):
    """A checkpoint cannot be read or does not match its spec."""


class ResourceError(ArchspecError):
    """A spec would exceed a resource limit (parameters, MACs, memory)."""
