"""Loading what a command needs: the site config, the show, a scenario."""

from importlib import resources


def dev_site_path():
    """The site config used when none is given: mock sensors, the default show."""
    return str(resources.files("severed") / "data" / "dev-site.toml")


def load_inputs(config=None, show=None, scenario=None):
    """Load and cross-check the site config, show and scenario; raise ConfigError with
    every problem of every file at once."""
    from severed.config import load_scenario, load_show, load_site
    from severed.errors import ConfigError

    problems = []
    site = loaded_show = loaded_scenario = None
    try:
        site = load_site(config or dev_site_path())
    except ConfigError as exc:
        problems += exc.problems
    if site is not None:
        try:
            loaded_show = load_show(show or site.show)
        except ConfigError as exc:
            problems += exc.problems
    if scenario and site is not None and loaded_show is not None:
        try:
            loaded_scenario = load_scenario(scenario, show=loaded_show, site=site)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return site, loaded_show, loaded_scenario
