"""nestling: raise a small language model on a child's word budget."""

__version__ = "0.1.0"
