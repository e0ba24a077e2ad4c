"""The metadata store interface: the single source of truth for all state.

Everything above the store (scheduler, API, CLI) reads and changes state only
through this interface; nothing above it writes SQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from slipstream.config import Config


@attrs.frozen(kw_only=True)
class StoreContext:
    """What a metadata backend factory receives."""

    url: str = attrs.field(repr=False)
    config: Config


class MetadataStore:
    """Base class for metadata stores."""

    def close(self) -> None:
        """Release connections."""
