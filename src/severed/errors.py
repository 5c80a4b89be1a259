"""One exception hierarchy for the whole project.

Every leaf also subclasses the builtin it resembles, so callers that know nothing of
severed can still catch it (a ConfigError is a ValueError). Messages name the file,
key, pin or device involved and what was being attempted.
"""


class SeveredError(Exception):
    """Base of every error severed raises on purpose."""


class ConfigError(SeveredError, ValueError):
    """A site config, show or scenario file is invalid.

    ``problems`` holds every problem found, each already formatted as
    ``FILE: path.to.key: message``, so one run reports all of them at once.
    """

    def __init__(self, problems):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class AudioDeviceError(SeveredError, OSError):
    """An audio output device cannot be found, opened or written."""


class SensorError(SeveredError, RuntimeError):
    """A sensor cannot be set up (pin taken, reserved or unavailable)."""


class CacheError(SeveredError, OSError):
    """The precompute cache cannot be read or written."""


class ControlError(SeveredError, RuntimeError):
    """The control socket cannot be reached or refused a request."""


class CompiledCoreMissing(SeveredError, ImportError):
    """The compiled DSP core (severed.engine._kernels) is not built or does not load."""
