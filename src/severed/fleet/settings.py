"""The ``[fleet]`` section of the site config: which broker, who this booth is there,
which group it plays in. Checked like the rest of the site config (``file: key:
message``); without the section a booth is on its own and nothing of this runs::

    [fleet]
    host = "broker.local"
    username = "corridor"
    password_file = "/etc/severed/mqtt-password"
    group = "floor"
    leader = "elevator"
"""

import os
import re
from dataclasses import dataclass

from severed.config.schema import Field, check_table, join_key

#: Topic levels a booth's own topics may not contain: MQTT wildcards, and empty levels.
_TOPIC = re.compile(r"^[^#+/\s][^#+\s]*$")
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class FleetConfig:
    host: str = "localhost"
    port: int = 1883
    tls: bool = False
    ca_file: str = ""  # TLS: the CA that signed the broker's certificate; "" system CAs
    username: str = ""  # "" connects without a login (a broker that allows it)
    password_file: str = ""  # a file holding the password alone, readable by severed
    client_id: str = ""  # "" -> severed-<site name>
    base_topic: str = ""  # "" -> severed/<site name>
    keepalive_s: int = 10  # the broker shows a booth that went silent offline after 1.5x
    heartbeat_s: float = 30.0  # state is published on change and at least this often
    group: str = ""  # "" plays alone
    group_topic: str = ""  # "" -> severed/groups/<group>
    leader: str = ""  # site name of the group's leader; "" -> the rule in docs/fleet.md
    lead_ms: float = 400.0  # a group's change starts this long after it was decided
    home_assistant: bool = False  # publish Home Assistant MQTT discovery
    discovery_prefix: str = "homeassistant"
    site: str = "severed"  # the site's name (from [site] name)

    @property
    def base(self):
        return self.base_topic or f"severed/{self.site}"

    @property
    def group_base(self):
        return (self.group_topic or f"severed/groups/{self.group}") if self.group else ""

    @property
    def client_name(self):
        return self.client_id or f"severed-{self.site}"


def _topic(value):
    if value and not _TOPIC.match(value) or value.endswith("/") or "//" in value:
        return (f"{value!r} is not a topic to publish on: no + or # wildcards, spaces, "
                "empty levels or leading/trailing /")
    return None


def _name(value):
    if value and not _NAME.match(value):
        return f"{value!r}: use letters, digits, _ and - (it is a topic level)"
    return None


def _not_empty(value):
    return "must not be empty" if not value.strip() else None


FLEET_FIELDS = (
    Field("host", str, "localhost", check=_not_empty, doc="the MQTT broker's host name"),
    Field("port", int, None, min=1, max=65535, doc="broker port (1883; 8883 with TLS)"),
    Field("tls", bool, False, doc="connect with TLS"),
    Field("ca_file", str, "", doc="TLS: CA certificate file; empty: the system's CAs"),
    Field("username", str, "", doc="login at the broker; empty: none"),
    Field("password_file", str, "", doc="file holding the password (mode 0600)"),
    Field("client_id", str, "", check=_topic, doc="MQTT client id; empty: severed-<name>"),
    Field("base_topic", str, "", check=_topic, doc="this booth's topics; empty: severed/<name>"),
    Field("keepalive_s", int, 10, min=2, max=300,
          doc="MQTT keepalive; a booth silent 1.5x this long is shown offline"),
    Field("heartbeat_s", float, 30.0, min=1.0, max=3600.0,
          doc="state is published on each change and at least this often"),
    Field("group", str, "", check=_name, doc="the group whose scenes change together"),
    Field("group_topic", str, "", check=_topic, doc="the group's topics; empty: severed/groups/<group>"),
    Field("leader", str, "", check=_name, doc="the site that leads the group; empty: the rule"),
    Field("lead_ms", float, 400.0, min=50.0, max=5000.0,
          doc="a group's scene change starts this long after it is decided"),
    Field("home_assistant", bool, False, doc="publish Home Assistant MQTT discovery"),
    Field("discovery_prefix", str, "homeassistant", check=_topic,
          doc="Home Assistant's discovery prefix"),
)


def check_fleet(raw, site_name, config_path, report):
    """A FleetConfig from the ``[fleet]`` table ``raw``, problems into ``report``.
    Relative file names are taken from the config file's folder."""
    values = check_table(raw, FLEET_FIELDS, "fleet", report)
    if values["port"] is None:
        values["port"] = 8883 if values["tls"] else 1883
    base = os.path.dirname(os.path.abspath(config_path)) if config_path else os.getcwd()
    for key in ("password_file", "ca_file"):
        path = values[key]
        if path:
            values[key] = path = os.path.normpath(os.path.join(base, os.path.expanduser(path)))
            if not os.path.isfile(path):
                report.warning(join_key("fleet", key), f"{path} does not exist (yet): "
                               "the booth plays alone until it can log in")
    if not values["base_topic"] and _topic(site_name):
        report.error("fleet.base_topic", f"is needed: the site's name {site_name!r} cannot be "
                     "a topic level (it has / + # or spaces)")
    if values["ca_file"] and not values["tls"]:
        report.warning("fleet.ca_file", "is set but tls = false: it is not used")
    if values["password_file"] and not values["username"]:
        report.error("fleet.password_file", "needs a username to go with it")
    if values["leader"] and not values["group"]:
        report.error("fleet.leader", "names a leader but no group")
    if values["group_topic"] and not values["group"]:
        report.error("fleet.group_topic", "is set but there is no group")
    return FleetConfig(site=site_name, **values)


def read_password(path):
    """The password in the file ``path`` (its first line), or None when there is no
    file to read (``path`` empty); OSError names the file when it cannot be read."""
    if not path:
        return None
    with open(path, encoding="utf-8") as f:
        return f.readline().rstrip("\r\n")
