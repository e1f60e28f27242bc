"""Software bills of materials for images, from Go's embedded build information (pure Python)."""
