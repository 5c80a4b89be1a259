"""PyAudioSink through real PortAudio and ALSA, with file PCMs standing in for a card."""

import json

import numpy as np
import pytest

pytest.importorskip("pyaudio")

RATE, BLOCK, N_BLOCKS = 48000, 256, 40

PLAY = """
import json, sys
import numpy as np
from severed.hardware.pyaudio_sink import PyAudioSink, list_output_devices

fmt, device = sys.argv[1], sys.argv[2]
t = np.arange({n} * {block}) / {rate}
signal = np.empty((len(t), 2), np.float32)
signal[:, 0] = 1.3 * np.sin(2 * np.pi * 441 * t)        # clips on purpose
signal[:, 1] = 0.5 + 0.4 * np.sin(2 * np.pi * 1000 * t)  # never zero
sink = PyAudioSink(device, {rate}, 2, fmt, block_frames={block}, render_ahead_blocks=3)
sink.open()
for i in range({n}):
    sink.write(signal[i * {block}:(i + 1) * {block}])
sink.close()
print(json.dumps({{"stats": sink.stats(), "description": sink.description,
                   "devices": [d["name"] for d in list_output_devices()]}}))
""".format(n=N_BLOCKS, block=BLOCK, rate=RATE)


def expected(fmt):
    t = np.arange(N_BLOCKS * BLOCK) / RATE
    signal = np.empty((len(t), 2), np.float32)
    signal[:, 0] = 1.3 * np.sin(2 * np.pi * 441 * t)
    signal[:, 1] = 0.5 + 0.4 * np.sin(2 * np.pi * 1000 * t)
    clipped = np.clip(signal, -1.0, 1.0).astype(np.float64)
    if fmt == "float32":
        return clipped.astype(np.float32)
    scale = {"int16": 32767, "int32": 2147483647}[fmt]
    return np.rint(clipped * scale).astype({"int16": np.int16, "int32": np.int32}[fmt])


@pytest.mark.parametrize("fmt,device", [("int16", "default"), ("int32", "severedtest"),
                                        ("float32", "severed")])
def test_captured_samples_match_what_was_written(alsa_home, run_in_alsa_home, fmt, device):
    home, captures = alsa_home
    proc = run_in_alsa_home(home, PLAY, fmt, device)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"default", "severedtest"} <= set(report["devices"])
    assert fmt in report["description"]
    raw = captures["default" if device == "default" else "severedtest"].read_bytes()
    want = expected(fmt)
    got = np.frombuffer(raw, want.dtype).reshape(-1, 2)
    # The writer feeds zeros whenever no block is queued (before the first block and
    # whenever the test's process lags); the signal itself has no all-zero frame.
    assert len(got) % BLOCK == 0
    got = got[np.any(got != 0, axis=1)]
    assert got.shape == want.shape
    assert np.array_equal(got, want)
    assert report["stats"]["dropped_blocks"] == 0 and report["stats"]["reopens"] == 0


def test_leading_silence_is_whole_zero_blocks(alsa_home, run_in_alsa_home):
    # Zeros go out in whole blocks, never splitting one of ours.
    home, captures = alsa_home
    proc = run_in_alsa_home(home, PLAY, "int16", "default")
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = np.frombuffer(captures["default"].read_bytes(), np.int16).reshape(-1, BLOCK, 2)
    nonzero_blocks = got[np.any(got != 0, axis=(1, 2))]
    assert len(nonzero_blocks) == N_BLOCKS


def test_unknown_device_fails_with_its_name(alsa_home, run_in_alsa_home):
    home, _ = alsa_home
    code = ("from severed.hardware.pyaudio_sink import PyAudioSink\n"
            "from severed.errors import AudioDeviceError\n"
            "try:\n    PyAudioSink('usbaudio').open()\n"
            "except AudioDeviceError as e:\n    print(e)\n")
    proc = run_in_alsa_home(home, code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "'usbaudio' not found" in proc.stdout and "severedtest" in proc.stdout


def test_alsa_probe_noise_is_kept_off_stderr(alsa_home, run_in_alsa_home):
    home, _ = alsa_home
    code = ("from severed.hardware.pyaudio_sink import list_output_devices\n"
            "print(len(list_output_devices()))\n")
    proc = run_in_alsa_home(home, code)
    assert proc.returncode == 0
    assert int(proc.stdout) >= 2
    assert "ALSA lib" not in proc.stderr and "jack server" not in proc.stderr


def test_open_sink_picks_the_card_when_one_exists(alsa_home, run_in_alsa_home, tmp_path):
    home, captures = alsa_home
    code = (
        "import numpy as np, sys\n"
        "from severed.config.model import AudioConfig\n"
        "from severed.hardware.sinks import open_sink\n"
        "cfg = AudioConfig(device='severedtest', block_frames=512, sample_format='int16')\n"
        "with open_sink(cfg, fallback_wav_path=sys.argv[1]) as sink:\n"
        "    sink.write(np.full((512, 2), 0.25, np.float32))\n"
        "print(type(sink).__name__)\n")
    proc = run_in_alsa_home(home, code, str(tmp_path / "fallback.wav"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "PyAudioSink"
    assert not (tmp_path / "fallback.wav").exists()
    got = np.frombuffer(captures["severedtest"].read_bytes(), np.int16).reshape(-1, 2)
    assert np.count_nonzero(np.all(got == 8192, axis=1)) == 512
