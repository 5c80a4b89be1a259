"""Helpers for the precompute tests: WAV writers for every encoding, sine measurement."""

import struct
import wave

import numpy as np


def sine(freq_hz, rate, seconds, amplitude=0.5, channels=1, phase=0.0):
    t = np.arange(int(round(seconds * rate))) / rate
    x = amplitude * np.sin(2 * np.pi * freq_hz * t + phase)
    return np.repeat(x[:, None], channels, axis=1)


def fit_sine(y, rate, freq_hz):
    """(amplitude, phase) of the sine at ``freq_hz`` in ``y`` by least squares."""
    t = np.arange(len(y)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq_hz * t), np.cos(2 * np.pi * freq_hz * t)], 1)
    (s, c), *_ = np.linalg.lstsq(basis, np.asarray(y, np.float64), rcond=None)
    return float(np.hypot(s, c)), float(np.arctan2(c, s))


def peak_freq(y, rate):
    """Frequency of the strongest spectral peak, refined by parabolic interpolation."""
    w = np.hanning(len(y))
    mag = np.abs(np.fft.rfft(np.asarray(y, np.float64) * w))
    k = int(np.argmax(mag[1:-1])) + 1
    a, b, c = np.log(mag[k - 1:k + 2] + 1e-30)
    shift = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + shift) * rate / len(y)


def db(x):
    return 20 * np.log10(max(float(x), 1e-30))


def write_wav(path, data, rate, encoding="pcm16", extensible=False):
    """Write float ``data`` (frames, channels) as a WAV file.

    encodings: pcm8, pcm16, pcm24, pcm32 (through the stdlib wave module unless
    ``extensible``), float32, float64 (hand-made header, format tag 3)."""
    data = np.asarray(data, np.float64)
    if data.ndim == 1:
        data = data[:, None]
    frames, channels = data.shape
    if encoding.startswith("pcm"):
        bits = int(encoding[3:])
        if bits == 8:
            raw = np.clip(np.round(data * 128 + 128), 0, 255).astype(np.uint8).tobytes()
        else:
            full = 2 ** (bits - 1)
            ints = np.clip(np.round(data * full), -full, full - 1).astype(np.int64)
            b = ints.astype("<i8").view(np.uint8).reshape(-1, 8)[:, :bits // 8]
            raw = b.tobytes()
        if not extensible:
            with wave.open(str(path), "wb") as w:
                w.setnchannels(channels)
                w.setsampwidth(bits // 8)
                w.setframerate(rate)
                w.writeframes(raw)
            return path
        tag = 1
    else:
        bits = 32 if encoding == "float32" else 64
        raw = data.astype("<f4" if bits == 32 else "<f8").tobytes()
        tag = 3
    block = channels * bits // 8
    if extensible:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, bits,
                          22, bits, (1 << channels) - 1) + struct.pack("<H", tag) + guid_tail
    else:
        fmt = struct.pack("<HHIIHHH", tag, channels, rate, rate * block, block, bits, 0)
    chunks = (b"fmt " + struct.pack("<I", len(fmt)) + fmt
              + b"fact" + struct.pack("<II", 4, frames)
              + b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\x00"  # odd size: padded
              + b"data" + struct.pack("<I", len(raw)) + raw)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
    return path
