"""The MQTT broker seen from Sentinel: credentials, ACLs and connection helpers."""
