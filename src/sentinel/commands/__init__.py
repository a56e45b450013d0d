"""Remote commands: queued by admins, dispatched by the worker to online devices over MQTT,
answered by the agent on `commands/result` and recorded by ingest."""
