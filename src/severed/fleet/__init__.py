"""Several booths on one MQTT broker: status, state, commands, events, and groups of
booths whose scenes change together. docs/fleet.md describes the topics and set-up.

Optional: it needs ``[fleet]`` in the site config and paho-mqtt (the ``fleet`` extra,
or Debian's python3-paho-mqtt); nothing here is imported without them.
"""
