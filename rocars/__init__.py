"""The shared contract of rocars-edge: identifiers, domain models, bus messages, config, bus client."""
