"""The cache made visible: what a build step's key is made of, and what changed between two builds."""
