"""OpenAPI 3.0/3.1 loading, shared by request validation, ``cpragate init``, the inventory and the scanner."""
