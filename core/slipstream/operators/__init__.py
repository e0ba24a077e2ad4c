"""The operators that ship with slipstream (import each from its module)."""
