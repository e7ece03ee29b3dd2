"""The JSON API under /aitp: blueprints, limits, request and response schemas, validation and the OpenAPI document."""
