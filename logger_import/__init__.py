"""The USB logger import: verify a device's file whole, publish its readings as a logger
backfill, then record the device's own report in the catalog (see README.md)."""
