"""Reading and validating the three kinds of file: site config, show and scenario.

Each loader returns the frozen objects of :mod:`severed.config.model` or raises one
:class:`~severed.errors.ConfigError` whose ``problems`` list every problem as
``FILE:LINE: path.to.key: message``::

    from severed.config import load_site, load_show, load_scenario
    site = load_site("/etc/severed/severed.toml")
    show = load_show(site.show)
"""

from severed.config.crosscheck import check_show_for_site, detect_kind
from severed.config.scenario import load_scenario, load_scenario_text
from severed.config.show import builtin_shows, load_show, load_show_text
from severed.config.site import load_site, load_site_text

__all__ = ["load_site", "load_site_text", "load_show", "load_show_text", "load_scenario",
           "load_scenario_text", "detect_kind", "check_show_for_site", "builtin_shows"]
