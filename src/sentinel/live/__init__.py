"""The live feed: ingest and the API publish compact events to Redis (`live:{org_id}`); each
API process relays them to that organization's WebSocket clients."""
