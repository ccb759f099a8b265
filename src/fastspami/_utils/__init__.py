"""Plumbing with no scientific content: atomic file writes, the bridge to R."""
