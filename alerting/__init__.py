"""alerting service of the cold-chain pipeline."""
