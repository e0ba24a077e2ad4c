"""slipstream-celery-executor:
Runs task tries on Celery workers through Redis or RabbitMQ."""

__version__ = "0.1.0"
