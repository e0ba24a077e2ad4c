"""Running task tries: the worker side of slipstream."""
