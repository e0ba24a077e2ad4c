"""Metadata stores: the interface and the built-in SQLAlchemy store."""

from slipstream.metadata.base import MetadataStore, StoreContext

__all__ = ["MetadataStore", "StoreContext"]
