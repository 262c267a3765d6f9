"""The sync agent: the control point's local ROCARS (replica, lane controller, outbox, local API)."""
