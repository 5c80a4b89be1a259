"""The resampler measured: passband flatness, alias and image rejection, timing, length."""

import numpy as np
import pytest

from severed.precompute.resample import Resampler, resample

from wavtools import db, fit_sine

PAIRS = [(44100, 48000), (22050, 48000), (8000, 48000), (96000, 48000), (48000, 44100),
         (32000, 48000), (44056, 48000)]  # the last: an odd rate, interpolated phases


def tone_through(sr_in, sr_out, freq_hz, seconds=0.5):
    t = np.arange(int(sr_in * seconds)) / sr_in
    x = (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)[:, None]
    y = Resampler(sr_in, sr_out).process(x)[:, 0]
    edge = sr_out // 20  # skip the filter's run-in and run-out at the ends
    return y[edge:-edge], edge


@pytest.mark.parametrize("sr_in,sr_out", PAIRS)
def test_passband_is_flat_to_nine_tenths_of_nyquist(sr_in, sr_out):
    nyquist = min(sr_in, sr_out) / 2
    for share in (0.02, 0.25, 0.5, 0.75, 0.9):
        f = share * nyquist
        y, edge = tone_through(sr_in, sr_out, f)
        amp, _ = fit_sine(y, sr_out, f)
        assert abs(db(amp / 0.5)) < 0.01, (share, db(amp / 0.5))


@pytest.mark.parametrize("sr_in,sr_out,freq_hz,alias_hz", [
    (96000, 48000, 30000, 18000),   # down: would fold to 48000 - 30000
    (96000, 48000, 25000, 23000),   # just above the new Nyquist
    (48000, 44100, 23000, 21100),
    (44056, 24000, 14000, 10000),   # an odd rate: interpolated phases
])
def test_aliases_are_rejected_by_90_db(sr_in, sr_out, freq_hz, alias_hz):
    y, _ = tone_through(sr_in, sr_out, freq_hz)
    amp, _ = fit_sine(y, sr_out, alias_hz)
    assert db(amp / 0.5) < -90


@pytest.mark.parametrize("sr_in,sr_out,freq_hz", [(22050, 48000, 10000), (8000, 48000, 3000),
                                                   (44100, 48000, 18000)])
def test_images_are_rejected_by_90_db(sr_in, sr_out, freq_hz):
    y, _ = tone_through(sr_in, sr_out, freq_hz)
    for image in (sr_in - freq_hz, sr_in + freq_hz):
        if image < sr_out / 2:
            amp, _ = fit_sine(y, sr_out, image)
            assert db(amp / 0.5) < -90, image
    # and nothing else: the residual after removing the tone is noise far below it
    amp, phase = fit_sine(y, sr_out, freq_hz)
    t = np.arange(len(y)) / sr_out
    residual = y - amp * np.sin(2 * np.pi * freq_hz * t + phase)
    assert db(np.sqrt(np.mean(residual ** 2)) / (0.5 / np.sqrt(2))) < -90


@pytest.mark.parametrize("sr_in,sr_out", PAIRS)
def test_no_delay_and_exact_length(sr_in, sr_out):
    """Output sample n is input time n * sr_in / sr_out: a sine keeps its phase."""
    f = 1000.0
    t = np.arange(sr_in // 4) / sr_in
    x = np.sin(2 * np.pi * f * t + 0.3)[:, None]
    r = Resampler(sr_in, sr_out)
    y = r.process(x)
    assert len(y) == -(-len(x) * sr_out // sr_in)
    edge = sr_out // 40
    amp, phase = fit_sine(y[edge:-edge, 0], sr_out, f)
    expected = 0.3 + 2 * np.pi * f * edge / sr_out
    err = (phase - expected + np.pi) % (2 * np.pi) - np.pi
    assert abs(err) < 1e-4


def test_chunking_does_not_change_the_result():
    x = np.random.default_rng(3).standard_normal((30011, 2)).astype(np.float32)
    for sr_in, sr_out in ((44100, 48000), (44056, 48000)):
        r = Resampler(sr_in, sr_out)
        a = r.process(x, chunk=32768)
        b = r.process(x, chunk=1000)
        np.testing.assert_allclose(a, b, atol=2e-6)


def test_channels_stay_apart_and_equal_rates_copy():
    t = np.arange(22050) / 22050
    x = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], 1).astype(np.float32)
    y = resample(x, 22050, 48000)
    assert np.max(np.abs(y[:, 1])) == 0.0 and np.max(np.abs(y[:, 0])) > 0.99
    np.testing.assert_array_equal(resample(x, 22050, 22050), x)


def test_dc_passes_at_unity():
    x = np.full((20000, 1), 0.25, np.float32)
    for sr_in, sr_out in PAIRS:
        y = resample(x, sr_in, sr_out)
        mid = y[len(y) // 4: 3 * len(y) // 4, 0]
        assert np.max(np.abs(mid - 0.25)) < 1e-5


class _LongSine:
    """A sine hours long that is computed where it is sliced: ``process`` needs only
    ``shape`` and slices of the input (a memory-mapped stem, in the cache)."""

    def __init__(self, freq_hz, rate, frames):
        self.freq_hz, self.rate, self.shape = freq_hz, rate, (frames, 1)

    def __getitem__(self, s):
        n = np.arange(s.start, min(s.stop, self.shape[0]), dtype=np.float64)
        return (0.5 * np.sin(2 * np.pi * self.freq_hz * n / self.rate))[:, None].astype(np.float32)


@pytest.mark.parametrize("sr_in", [44056, 44100])  # table phases, exact phases
def test_position_holds_hours_into_a_stem(sr_in):
    # Output n sits at input time n * M / L: past 2**31 / M outputs (8 s at 44056 Hz)
    # that product overflows a 32-bit index (numpy's intp on armhf), so the integer
    # arithmetic must stay 64-bit whatever the platform's index type.
    r = Resampler(sr_in, 48000)
    x = _LongSine(441.0, sr_in, sr_in * 3 * 3600)
    n0 = 48000 * 2 * 3600 // r.up * r.up  # two hours in, on a whole period
    out = np.zeros((4800, 1), np.float32)
    if r.exact:
        r._chunk_by_phase(x, n0, n0 + len(out), out)
    else:
        r._chunk_interpolated(x, n0, n0 + len(out), out)
    t = (n0 + np.arange(len(out))) / 48000
    want = 0.5 * np.sin(2 * np.pi * 441.0 * t)
    assert db(np.abs(out[:, 0] - want).max()) < -60
