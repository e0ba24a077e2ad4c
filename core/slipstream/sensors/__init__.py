"""Sensors: tasks that wait for a condition (import each from its module)."""
