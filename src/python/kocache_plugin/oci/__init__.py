"""Pure-Python OCI image primitives (digests, JSON documents, layouts) with no Pants dependency, so they are unit-testable."""
