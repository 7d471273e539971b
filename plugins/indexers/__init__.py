"""Built-in indexers."""
