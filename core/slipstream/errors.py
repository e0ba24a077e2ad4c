"""Errors slipstream raises about its own set-up (not about a task's work).

Every message says what was wrong, where it came from, and what to do about it;
the CLI prints them as they are, without a traceback.
"""

from __future__ import annotations


class SlipstreamError(Exception):
    """Base of the errors a user can act on."""


class ConfigError(SlipstreamError):
    """A configuration value is unknown, of the wrong type, or names something not installed."""


class PluginError(SlipstreamError):
    """A plugin is broken or misbehaves."""


class PluginConflictError(PluginError):
    """Two plugins claim the same name."""


class UnknownPluginError(PluginError):
    """Configuration asks for a plugin name that no installed plugin provides."""


class UnavailableError(PluginError):
    """The plugin is installed but what it registered cannot be used here (it says why)."""


class StoreError(SlipstreamError):
    """The metadata store refused a change or cannot be used as configured."""


class NotFoundError(StoreError):
    """The DAG, run, task instance, variable, ... asked for does not exist."""


class AlreadyExistsError(StoreError):
    """A row with the same unique key (dag run id, logical date, username, ...) exists."""


class SecretKeyError(StoreError):
    """The Fernet key is malformed, or is not the key that encrypted the stored secrets."""


class SchemaError(StoreError):
    """The database schema is missing or not at the version this slipstream expects."""
