"""Pure-Python OCI image primitives, free of Pants imports so they are unit-testable on their own."""
