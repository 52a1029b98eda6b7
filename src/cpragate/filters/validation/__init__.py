"""OpenAPI request validation and mass-assignment blocking (priority 850), and response
conformance (priority 200): routes bound to an OpenAPI operation accept only what the
spec describes and answer only what it declares."""
