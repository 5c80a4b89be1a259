"""Fuzzing the control protocol: any line a client sends gets a well-formed reply
(never an internal error), every command that passes lands in the render loop
without breaking it, and a reload of a damaged config keeps the running show."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from severed.config import load_show_text
from severed.hardware.sinks import NullSink
from severed.loop import RenderLoop
from severed.precompute.cache import Cache
from severed.service.control import ControlServer, encode
from severed.service.handler import ControlHandler

from test_fuzz_config import SMALL_SHOW, dev_site_text, no_hang
from tomlgen import mutated, scalars, values

pytestmark = pytest.mark.filterwarnings("ignore")

# "record" is left out: it writes a WAV file wherever the request says (the path check
# is tests/service's business), which a fuzzer must not do on this machine.
COMMANDS = ("status", "sensors", "trigger", "scene", "volume", "mute", "unmute",
            "test_tone", "record_status", "reload", "config", "ping")
ARG_NAMES = ("name", "event", "db", "channel", "freq_hz", "seconds", "path", "v", "on")

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    """A render loop playing the small show, its handler and an unstarted server."""
    d = tmp_path_factory.mktemp("control")
    show_path = d / "small.toml"
    show_path.write_text(SMALL_SHOW)
    site_path = d / "site.toml"
    site_path.write_text(dev_site_text().replace('show = "lumon"', f'show = "{show_path}"'))
    from severed.config import load_site
    site = load_site(str(site_path))
    show = load_show_text(SMALL_SHOW, str(show_path))
    loop = RenderLoop(show, site, NullSink(), block_frames=1024, live=True, cache=Cache(None))
    # The fuzzer floods on purpose: floods have a test of their own (test_control_attacks).
    handler = ControlHandler(loop, site, show, config_path=str(site_path),
                             command_burst=10 ** 9)
    server = ControlServer(d / "sock", handler)
    return loop, handler, server, site_path


def well_formed(reply):
    assert isinstance(reply, dict)
    assert reply.get("v") == 1 and isinstance(reply.get("ok"), bool), reply
    if not reply["ok"]:
        assert isinstance(reply.get("error"), str) and reply["error"], reply
        assert "internal error" not in reply["error"], reply
    data = encode(reply)
    assert data.endswith(b"\n") and json.loads(data)


def answer_and_play(daemon, line):
    loop, _, server, _ = daemon
    with no_hang():
        reply = server._answer(line)
        well_formed(reply)
        loop.render_block()  # whatever was posted is applied now
    assert np.isfinite(loop.peak_dbfs)
    return reply


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(daemon, line):
    answer_and_play(daemon, line)


requests = st.fixed_dictionaries(
    {"cmd": st.one_of(st.sampled_from(COMMANDS), scalars)},
    optional={k: values for k in ARG_NAMES},
)


@FUZZ
@given(requests)
def test_random_requests(daemon, request):
    line = json.dumps(request, allow_nan=True).encode()
    answer_and_play(daemon, line)


@FUZZ
@given(st.sampled_from(["scene", "trigger", "volume", "test_tone"]),
       st.dictionaries(st.sampled_from(ARG_NAMES), scalars, max_size=4))
def test_commands_with_wild_arguments(daemon, cmd, args):
    answer_and_play(daemon, json.dumps({"cmd": cmd, **args}, allow_nan=True).encode())


@settings(FUZZ, max_examples=60)
@given(text=mutated(SMALL_SHOW))
def test_reload_of_a_damaged_show_keeps_the_running_one(daemon, text):
    loop, handler, server, site_path = daemon
    show_path = site_path.parent / "small.toml"
    before = loop.show
    show_path.write_text(text)
    try:
        reply = answer_and_play(daemon, b'{"cmd": "reload"}')
    finally:
        show_path.write_text(SMALL_SHOW)
    if reply["ok"]:
        assert loop.show is not before  # a valid show was swapped in
    else:
        assert loop.show is before
        assert reply.get("problems") or "cannot read" in reply["error"], reply
    for _ in range(3):
        loop.render_block()
    assert np.isfinite(loop.peak_dbfs)
