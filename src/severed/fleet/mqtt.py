"""paho-mqtt behind callbacks that read the same in paho 1.6 and 2.x.

Debian bookworm and Raspberry Pi OS ship paho-mqtt 1.6 (``python3-paho-mqtt``); PyPI
has 2.x, whose ``Client`` takes a ``CallbackAPIVersion`` first and passes reason codes
and properties to the callbacks. Both are supported: with 2.x this asks for VERSION2
(VERSION1 is deprecated there and goes in 3.0), with 1.6 the historic callbacks; each
is translated to the plain ones below. MQTT 3.1.1 either way: what Mosquitto 2 and
every broker a venue may already run speak.

paho's own network thread connects, reconnects (1 s doubling to 10 s) and calls the
callbacks; ``publish`` from any other thread only queues the message. Nothing here
blocks for the network::

    conn = Connection(cfg, will=("severed/lift/status", "offline"),
                      on_connect=..., on_disconnect=..., on_message=..., on_subscribe=...)
    conn.start()                       # returns at once; connects in the background
    conn.publish("severed/lift/state", b"{...}", qos=1, retain=True)
    conn.stop()
"""

import logging
import ssl

from severed.errors import SeveredError
from severed.fleet.settings import read_password

log = logging.getLogger("severed.fleet")

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 10  # a venue wants its booths back soon after the broker; a retry costs nothing
MAX_QUEUED = 1000  # messages paho keeps for a broker that is away; the rest are dropped

# CONNACK return codes of MQTT 3.1.1, as a technician should read them.
_REFUSED = {
    1: "the broker does not speak MQTT 3.1.1",
    2: "the broker refused the client id",
    3: "the broker is unavailable",
    4: "the broker refused the login: bad username or password",
    5: "the broker refused the login: not authorised (wrong password, or the user may "
       "not connect)",
}


class FleetUnavailable(SeveredError, ImportError):
    """paho-mqtt is not installed."""


def _paho():
    try:
        import paho.mqtt.client as mqtt
    except ImportError as exc:
        raise FleetUnavailable(
            "[fleet] needs paho-mqtt: apt install python3-paho-mqtt (Pi OS, Debian), or "
            "pip install 'severed[fleet]'") from exc
    return mqtt


def _failed(code):
    """True when a CONNACK code (an int in 1.6, a ReasonCode in 2.x) is a refusal."""
    if hasattr(code, "is_failure"):
        return code.is_failure
    return code != 0


def _connack_text(code):
    value = getattr(code, "value", code)
    if hasattr(code, "is_failure"):  # 2.x: MQTT 5 style codes, mapped from 3.1.1
        names = {0x86: 4, 0x87: 5, 0x85: 2, 0x88: 3, 0x84: 1, 0x8C: 5}
        value = names.get(value, value)
    return _REFUSED.get(value, f"the broker refused the connection (code {code})")


def _loss_text(code):
    """Why paho lost the connection (an int in 1.6, a ReasonCode in 2.x)."""
    if hasattr(code, "is_failure"):
        return str(code).lower()
    return _paho().error_string(code).rstrip(".").lower()


class Connection:
    """One MQTT connection for a booth or a tool (see the module docstring).

    Callbacks, all on paho's network thread: ``on_connect(error)`` with None when the
    broker accepted, else a sentence; ``on_disconnect(reason)``; ``on_message(topic,
    payload)``; ``on_subscribe(mid, refused)`` with a bool per topic subscribed.
    """

    def __init__(self, cfg, *, client_id=None, will=None, on_connect=None,
                 on_disconnect=None, on_message=None, on_subscribe=None, password=None):
        mqtt = _paho()
        self.cfg = cfg
        self.on_connect = on_connect or (lambda error: None)
        self.on_disconnect = on_disconnect or (lambda reason: None)
        self.on_message = on_message or (lambda topic, payload: None)
        self.on_subscribe = on_subscribe or (lambda mid, refused: None)
        client_id = client_id or cfg.client_name
        version2 = hasattr(mqtt, "CallbackAPIVersion")
        if version2:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                 clean_session=True, protocol=mqtt.MQTTv311)
            client.on_connect = lambda c, u, flags, rc, props: self._connected(rc)
            client.on_disconnect = lambda c, u, flags, rc, props: self._disconnected(rc)
            client.on_subscribe = lambda c, u, mid, codes, props: self._subscribed(mid, codes)
        else:
            client = mqtt.Client(client_id=client_id, clean_session=True,
                                 protocol=mqtt.MQTTv311)
            client.on_connect = lambda c, u, flags, rc: self._connected(rc)
            client.on_disconnect = lambda c, u, rc: self._disconnected(rc)
            client.on_subscribe = lambda c, u, mid, granted: self._subscribed(mid, granted)
        client.on_message = lambda c, u, msg: self._message(msg)
        if cfg.username:
            if password is None:
                try:
                    password = read_password(cfg.password_file)
                except OSError as exc:
                    raise SeveredError(f"[fleet] password_file {cfg.password_file}: "
                                       f"cannot read it: {exc.strerror}") from exc
            client.username_pw_set(cfg.username, password)
        if cfg.tls:
            client.tls_set(ca_certs=cfg.ca_file or None, cert_reqs=ssl.CERT_REQUIRED)
        if will is not None:
            client.will_set(will[0], will[1], qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_queued_messages_set(MAX_QUEUED)
        self.client = client
        self.connected = False
        self.error = None  # the last refusal, as a sentence; None after a good connect

    def start(self):
        # connect_async + loop_start: paho's thread makes the first attempt and keeps
        # retrying, so a broker that is down at boot costs the caller nothing.
        self.client.connect_async(self.cfg.host, self.cfg.port, self.cfg.keepalive_s)
        self.client.loop_start()
        return self

    def stop(self, last_words=()):
        """Publish ``last_words`` ((topic, payload, retain) ...) if connected, then
        disconnect (the broker does not send the will after a clean disconnect)."""
        if self.connected:
            for topic, payload, retain in last_words:
                try:
                    self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(1.0)
                except (RuntimeError, ValueError):  # gone meanwhile
                    pass
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic, payload, qos=0, retain=False):
        """Queue a message; False when not connected (it is then dropped)."""
        if not self.connected:
            return False
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == 0

    def subscribe(self, topics):
        """Subscribe to [(topic, qos)]; the mid that on_subscribe will name, or None."""
        rc, mid = self.client.subscribe(list(topics))
        return mid if rc == 0 else None

    # -- paho's thread

    def _connected(self, code):
        if _failed(code):
            self.connected = False
            text = _connack_text(code)
            if text != self.error:
                log.error("fleet: %s (broker %s:%d, user %r)", text, self.cfg.host,
                          self.cfg.port, self.cfg.username or "anonymous")
            self.error = text
            self.on_connect(text)
            return
        self.connected = True
        self.error = None
        self.on_connect(None)

    def _disconnected(self, code):
        was = self.connected
        self.connected = False
        if was:
            self.on_disconnect(f"the connection dropped: {_loss_text(code)}" if code
                               else "disconnected")

    def _subscribed(self, mid, codes):
        # SUBACK: 0x80 for a topic the broker refused (1.6 passes ints, 2.x ReasonCodes).
        refused = [code.is_failure if hasattr(code, "is_failure") else code >= 128
                   for code in codes]
        self.on_subscribe(mid, refused)

    def _message(self, msg):
        self.on_message(msg.topic, msg.payload)
