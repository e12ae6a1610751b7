"""What the HTTP servers (the sidecar, the console) share: the one JSON error shape
and its middleware (:mod:`.errors`, :mod:`.middleware`), server-sent events,
client addresses behind trusted proxies (:mod:`.forwarded`) and the masking of
tokens in logs (:mod:`.logs`)."""
