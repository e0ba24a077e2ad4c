"""The public REST API under ``/api/v2``: Airflow 3's paths, fields and status codes."""
