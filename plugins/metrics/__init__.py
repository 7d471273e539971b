"""Built-in retrieval metrics: the scorer trusts these files, and only these."""
