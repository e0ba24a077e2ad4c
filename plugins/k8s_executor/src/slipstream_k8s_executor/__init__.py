"""slipstream-k8s-executor:
Runs each task try in its own Kubernetes pod."""

__version__ = "0.1.0"
