"""Everything that speaks Celery: event capture (``events``), folding events into task and worker
records (``ingest``), periodic inspection (``inspect``) and remote control (``control``). Each
configured broker gets its own Celery app object (``apps``), used only as a client."""
