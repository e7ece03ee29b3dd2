"""The operators' dashboard: server-rendered pages, HTMX partials, forms and time formatting."""
