"""Built-in competitions."""
