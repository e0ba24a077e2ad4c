"""The machinery behind ``slipstream.operators.transfer``: imported only when a transfer runs.

``values`` turns values into what a destination column takes, ``tables`` reads queries and
writes tables page by page, ``files`` reads and writes CSV, JSON lines and Parquet, and
``progress`` counts and logs what moved.
"""
