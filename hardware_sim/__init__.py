"""The simulator: central ROCARS over HTTP, virtual devices, traffic and fault scenarios."""
