"""Suite-wide fixtures: the real servers come from tests/services.py."""

pytest_plugins = ["tests.services"]
