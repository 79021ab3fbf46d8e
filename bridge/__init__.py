"""WebSocket edge of the realtime fabric: NATS subjects in, scoped live events out."""
