"""Built-in poolings: feature maps (B, C, h, w) to one vector per image."""
