"""simulators service of the cold-chain pipeline."""
