"""Example DAGs shipped with slipstream, shown when ``core.load_examples`` is true."""
