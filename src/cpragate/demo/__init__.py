"""The demo: an example API with fake personal data, behind the gateway on HTTPS."""
