"""The package version: part of every signature and run id (a new version may change numbers)."""

__version__ = "0.6.0"
