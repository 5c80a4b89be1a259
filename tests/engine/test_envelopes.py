"""ADSR and exponential one-shot envelopes: timing to the sample, no jumps, any block size."""

import numpy as np
import pytest

from severed.engine.dsp.envelopes import Adsr, Decay

FS = 48000


def run(env, total, block, events=()):
    """Render ``total`` samples in blocks; events are (absolute sample, callable)."""
    out = np.zeros(total, np.float32)
    pos = 0
    sizes = block if isinstance(block, (list, tuple)) else [block]
    i = 0
    while pos < total:
        n = min(sizes[i % len(sizes)], total - pos)
        for at, fire in events:
            if pos <= at < pos + n:
                fire(at - pos)
        env.render(out[pos:], n)
        pos += n
        i += 1
    return out


def adsr_run(block, on_at=100, off_at=20000, total=40000):
    env = Adsr(FS, attack_s=0.01, decay_s=0.1, sustain=0.5, release_s=0.2, max_frames=total)
    x = run(env, total, block, [(on_at, lambda o: env.gate(True, o)),
                                (off_at, lambda o: env.gate(False, o))])
    return env, x


@pytest.mark.parametrize("block", [2048, 256, 64, [1000, 37, 2048, 5]])
def test_adsr_stage_timing_within_two_samples(block):
    env, x = adsr_run(block)
    assert np.all(x[:100] == 0.0)
    peak = np.flatnonzero(x >= 1.0 - 1e-6)[0]
    assert abs(peak - (100 + 480 - 1)) <= 2  # attack 10 ms
    at_sustain = peak + np.flatnonzero(np.abs(x[peak:] - 0.5) < 1e-6)[0]
    assert abs(at_sustain - (peak + 4800)) <= 2  # decay 100 ms
    assert np.all(np.abs(x[at_sustain:20000] - 0.5) < 1e-6)
    silent = np.flatnonzero(x[20000:] <= 1e-7)[0] + 20000
    assert abs(silent - (20000 + 9600 - 1)) <= 2  # release 200 ms
    assert np.all(x[silent:] == 0.0)
    assert not env.active
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_adsr_same_envelope_for_any_block_size():
    _, reference = adsr_run(40000)
    for block in (64, 2048, [1, 333, 2047]):
        np.testing.assert_allclose(adsr_run(block)[1], reference, atol=1e-6)


def test_adsr_has_no_jumps_even_when_retriggered_during_release():
    env = Adsr(FS, attack_s=0.005, decay_s=0.05, sustain=0.7, release_s=0.1)
    x = run(env, 30000, 512, [(0, lambda o: env.gate(True, o)),
                              (6000, lambda o: env.gate(False, o)),
                              (8000, lambda o: env.gate(True, o)),   # mid-release
                              (9000, lambda o: env.gate(False, o))])  # mid-attack
    attack_step = 1.0 / (0.005 * FS)
    assert np.abs(np.diff(x)).max() <= attack_step * (1 + 1e-4)
    assert x[8001] > x[7999]  # turned round from its release level, not from 0
    assert x[7999] > 0.3


def test_adsr_reset_and_active():
    env = Adsr(FS, 0.01, 0.01, 0.5, 0.01, max_frames=512)
    assert not env.active
    env.gate(True)
    assert env.active
    buf = np.zeros(512, np.float32)
    env.render(buf, 512)
    assert env.active and buf[-1] > 0
    env.reset()
    assert not env.active
    assert np.all(env.render(buf, 512) == 0.0)
    with pytest.raises(ValueError, match="sustain"):
        Adsr(FS, 0.01, 0.01, 1.5, 0.01)


@pytest.mark.parametrize("block", [2048, 100, [7, 1000, 64]])
def test_decay_is_exponential_with_its_time_constant(block):
    tau_s = 0.004
    env = Decay(FS, tau_s=tau_s)
    x = run(env, 6000, block, [(1234, lambda o: env.trigger(o, level=0.8))])
    assert np.all(x[:1234] == 0.0)
    k = np.arange(6000 - 1234)
    expected = 0.8 * np.exp(-k / (tau_s * FS))
    np.testing.assert_allclose(x[1234:], expected, rtol=1e-5, atol=1e-6)  # idle below 1e-6
    below = np.flatnonzero(x[1234:] < 0.8 / np.e)[0]
    assert abs(below - tau_s * FS) <= 1


def test_decay_retrigger_replaces_and_idle_is_zero():
    env = Decay(FS, tau_s=0.001, max_frames=4096)
    buf = np.zeros(4096, np.float32)
    env.trigger(0, 1.0)
    env.trigger(1000, 0.5)
    env.render(buf, 4096)
    assert buf[0] == 1.0 and buf[1000] == 0.5
    assert buf[999] < 1e-6
    for _ in range(5):
        env.render(buf, 4096)
    assert not env.active and np.all(buf == 0.0)
    with pytest.raises(ValueError, match="tau_s"):
        Decay(FS, tau_s=0.0)
