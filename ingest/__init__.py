"""ingest service of the cold-chain pipeline."""
