"""What a plugin author imports: ``hookimpl`` and the records hooks yield.

A plugin is a module with ``@hookimpl`` functions, registered under the
entry-point group ``slipstream``::

    [project.entry-points.slipstream]
    my_plugin = "my_package.plugin"
"""

from slipstream.plugins.hookspecs import hookimpl
from slipstream.plugins.records import (
    CliCommandSpec,
    ExecutorSpec,
    MetadataBackendSpec,
    OperatorSpec,
    PluginInfo,
    QueueBackendSpec,
    Registered,
    SettingSpec,
)

__all__ = [
    "CliCommandSpec",
    "ExecutorSpec",
    "MetadataBackendSpec",
    "OperatorSpec",
    "PluginInfo",
    "QueueBackendSpec",
    "Registered",
    "SettingSpec",
    "hookimpl",
]
