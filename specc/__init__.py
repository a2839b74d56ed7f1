"""specc: compile, plan and apply ML model serving specs (`serving.yaml`) onto Kubernetes."""

__version__ = "0.1.0"
