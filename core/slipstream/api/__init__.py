"""The web server: the public REST API (Airflow 3's ``/api/v2`` shapes), the
task-execution API for remote workers, and the UI, on one Litestar application.

Everything here reads and changes state through the metadata store interface only.
"""
