"""dashboards service of the cold-chain pipeline."""
