"""The fleet simulator: many virtual agents in one process, each with its own enrollment,
MQTT connection, credential, spool and receipts — the demo's live fleet and a load source."""
