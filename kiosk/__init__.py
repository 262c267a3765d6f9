"""The self-help kiosk: drivers bundle, cancel and query; shippers submit cargo data."""
