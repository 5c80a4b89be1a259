"""Home Assistant MQTT discovery for one booth (``[fleet] home_assistant = true``).

Retained config messages on ``<prefix>/<component>/<node>/<object>/config`` make a
booth appear as a device with a scene select, a volume number, a mute switch, tension
and underrun sensors and an online binary sensor. They read ``<base>/state`` and
``<base>/status``; what Home Assistant sets arrives as plain payloads on
``<base>/set/scene``, ``<base>/set/volume`` and ``<base>/set/mute`` (ON/OFF), which
the booth turns into the control commands scene, volume and mute/unmute.
"""

import json
import re

from severed.service.handler import VOLUME_RANGE_DB


def node_id(site):
    """The site's name as Home Assistant's node id (letters, digits, _ and -)."""
    return "severed_" + re.sub(r"[^A-Za-z0-9_-]", "_", site)


def discovery_messages(cfg, scenes, version):
    """[(topic, payload)] to publish retained, for a booth whose show has ``scenes``."""
    node = node_id(cfg.site)
    base = cfg.base
    device = {"identifiers": [node], "name": f"severed {cfg.site}",
              "manufacturer": "severed", "model": "sound booth", "sw_version": version}
    common = {"availability_topic": f"{base}/status", "payload_available": "online",
              "payload_not_available": "offline", "device": device}
    state = f"{base}/state"
    entities = {
        ("select", "scene"): {"name": "Scene", "state_topic": state,
                              "value_template": "{{ value_json.scene }}",
                              "command_topic": f"{base}/set/scene", "options": list(scenes)},
        ("number", "volume"): {"name": "Volume", "state_topic": state,
                               "value_template": "{{ value_json.volume_db }}",
                               "command_topic": f"{base}/set/volume",
                               "min": VOLUME_RANGE_DB[0], "max": VOLUME_RANGE_DB[1],
                               "step": 1, "unit_of_measurement": "dB", "mode": "slider"},
        ("switch", "mute"): {"name": "Mute", "state_topic": state,
                             "value_template": "{{ 'ON' if value_json.muted else 'OFF' }}",
                             "command_topic": f"{base}/set/mute",
                             "payload_on": "ON", "payload_off": "OFF"},
        ("sensor", "tension"): {"name": "Tension", "state_topic": state,
                                "value_template": "{{ value_json.tension }}",
                                "state_class": "measurement"},
        ("sensor", "underruns"): {"name": "Underruns", "state_topic": state,
                                  "value_template": "{{ value_json.underruns }}",
                                  "state_class": "total_increasing"},
        ("binary_sensor", "online"): {"name": "Online", "state_topic": f"{base}/status",
                                      "payload_on": "online", "payload_off": "offline",
                                      "device_class": "connectivity"},
    }
    out = []
    for (component, obj), config in entities.items():
        payload = dict(common, unique_id=f"{node}_{obj}", object_id=f"{node}_{obj}", **config)
        if component == "binary_sensor":
            del payload["availability_topic"]  # it is the availability itself
            del payload["payload_available"], payload["payload_not_available"]
        out.append((f"{cfg.discovery_prefix}/{component}/{node}/{obj}/config",
                    json.dumps(payload, separators=(",", ":"))))
    return out


def set_request(what, payload):
    """The control request for a Home Assistant ``<base>/set/<what>`` payload, or None."""
    text = payload.decode("utf-8", "replace").strip()
    if what == "scene":
        return {"cmd": "scene", "name": text}
    if what == "volume":
        try:
            return {"cmd": "volume", "db": float(text)}
        except ValueError:
            return {"cmd": "volume", "db": text}  # the handler names the bad value
    if what == "mute":
        return {"cmd": "mute" if text.upper() in ("ON", "1", "TRUE") else "unmute"}
    return None
