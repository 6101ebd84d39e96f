"""circuits-benchmark: transformers with known circuits, to score circuit-discovery methods."""

__version__ = "0.1.0"
