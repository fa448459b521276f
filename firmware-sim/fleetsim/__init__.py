"""fleetsim: simulated telematics units on sanitation trucks.

A black box that speaks only wire protocol v1 (docs/protocol.md): it imports nothing from
the server. One generator produces every vehicle-day (``fleetsim.shift``); two outputs use it:
the in-memory/offline writer (``fleetsim.offline``) and the MQTT publisher (``fleetsim.mqtt``).
"""

__version__ = "1.0.0"
FIRMWARE = f"fleetsim/{__version__}"
