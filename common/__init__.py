"""Bottom layer shared by every package: the error hierarchy. Imports nothing of ours."""
