"""Built-in plugins. Every module below this package is discovered; drop a file in to add one."""
