"""Sensor tests run single tries the way a worker does."""

from tests.worker_fixtures import run, xcom

__all__ = ["run", "xcom"]
