"""api service of the cold-chain pipeline."""
