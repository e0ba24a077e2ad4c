"""Finding, importing and serializing DAG files (never done by the scheduler itself)."""
