"""What every request handler may use: configuration, plugins, the store, the signer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slipstream.api.auth.limiter import LoginLimiter
from slipstream.api.auth.tokens import TokenSigner

if TYPE_CHECKING:
    from slipstream.config import Config
    from slipstream.metadata.base import MetadataStore
    from slipstream.plugins.manager import PluginManager


class ApiContext:
    """A plain class on purpose: handlers receive it by injection, and Litestar
    would try to convert an attrs instance field by field."""

    __slots__ = ("config", "login_limiter", "plugins", "signer", "store")

    def __init__(
        self,
        *,
        config: Config,
        plugins: PluginManager,
        store: MetadataStore,
        signer: TokenSigner,
        login_limiter: LoginLimiter,
    ) -> None:
        self.config = config
        self.plugins = plugins
        self.store = store
        self.signer = signer
        self.login_limiter = login_limiter

    @property
    def token_lifetime(self) -> int:
        return int(self.config["api.access_token_expiration"])
