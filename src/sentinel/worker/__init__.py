"""The background worker: scheduled jobs that belong to no request."""
