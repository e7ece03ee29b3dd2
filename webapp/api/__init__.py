"""The JSON API under /aitp: blueprints, request schemas and the OpenAPI document."""
