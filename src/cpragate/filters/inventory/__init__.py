"""The API inventory: every endpoint observed, templated, with its consumers, status mix
and the personal information it serves; compared with the OpenAPI specs (shadow,
zombie, unused endpoints) and exported as an OpenAPI skeleton or CSV."""
