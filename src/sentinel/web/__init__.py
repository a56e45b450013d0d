"""The web dashboard: server-rendered pages (Jinja2) with htmx and small JavaScript modules."""
