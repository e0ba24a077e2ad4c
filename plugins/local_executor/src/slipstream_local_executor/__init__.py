"""slipstream-local-executor:
Runs task tries in parallel on this machine, each in its own process forked from warm workers."""

__version__ = "0.1.0"
