"""Measurements made inside the test VM (run with /opt/severed/venv/bin/python: numpy).

    probe.py level FILE.raw                      RMS/peak of a capture, JSON
    probe.py compare CAPTURE.raw TAP.wav         is the capture the show? (correlation)
    probe.py outage SIGNAL [--record-s S]        send SIGNAL to the daemon while capturing
                                                 the loopback; how long until it is back

Captures are what `arecord -D hw:Loopback,1,0 -f S16_LE -r 48000 -c 2 -t raw` writes:
the other end of the cable the daemon plays into. Every result is one JSON object on
stdout; times are seconds.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import wave

import numpy as np

RATE = 48000
CHANNELS = 2
CAPTURE_DEVICE = "hw:Loopback,1,0"
WINDOW_S = 0.05
SILENT_DB = -70.0  # below this a 50 ms window counts as silence (the show is far louder)


def db(x):
    return float(20 * np.log10(max(float(x), 1e-10)))


FORMATS = {"S16_LE": ("<i2", 32768.0), "S32_LE": ("<i4", 2147483648.0),
           "FLOAT_LE": ("<f4", 1.0)}


def read_raw(path, fmt="S16_LE"):
    dtype, scale = FORMATS[fmt]
    data = np.fromfile(path, dtype=dtype)
    data = data[: len(data) // CHANNELS * CHANNELS].reshape(-1, CHANNELS)
    return data.astype(np.float64) / scale


def read_wav(path):
    with wave.open(path, "rb") as w:
        frames = w.readframes(w.getnframes())
        channels = w.getnchannels()
    data = np.frombuffer(frames, dtype="<i2").reshape(-1, channels)
    return data.astype(np.float64) / 32768.0


def window_db(audio):
    """RMS in dBFS of each 50 ms window (both channels together)."""
    n = int(RATE * WINDOW_S)
    count = len(audio) // n
    if count == 0:
        return np.zeros(0)
    blocks = audio[: count * n].reshape(count, n * audio.shape[1])
    rms = np.sqrt(np.mean(blocks ** 2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-10))


def silent_runs(levels):
    """[(start_s, end_s)] of runs of silent windows."""
    runs, start = [], None
    for i, level in enumerate(levels):
        if level < SILENT_DB and start is None:
            start = i
        elif level >= SILENT_DB and start is not None:
            runs.append((start * WINDOW_S, i * WINDOW_S))
            start = None
    if start is not None:
        runs.append((start * WINDOW_S, len(levels) * WINDOW_S))
    return runs


def level(audio):
    levels = window_db(audio)
    return {
        "seconds": len(audio) / RATE,
        "rms_dbfs": db(np.sqrt(np.mean(audio ** 2))) if len(audio) else None,
        "peak_dbfs": db(np.max(np.abs(audio))) if len(audio) else None,
        "silent_fraction": float(np.mean(levels < SILENT_DB)) if len(levels) else 1.0,
        "longest_silence_s": max((b - a for a, b in silent_runs(levels)), default=0.0),
        "window_db_min": float(levels.min()) if len(levels) else None,
        "window_db_max": float(levels.max()) if len(levels) else None,
    }


def compare(capture, tap):
    """Best normalized correlation of the tap (what the daemon says it played) against
    the capture, over all lags: near 1 when the loopback carries the same samples."""
    a = capture.mean(axis=1)
    b = tap.mean(axis=1)
    n = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    spec = np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n))
    corr = np.fft.irfft(spec, n)
    lag = int(np.argmax(np.abs(corr)))
    lag_signed = lag if lag < n // 2 else lag - n
    # Normalise over the overlapping part at that lag.
    if lag_signed >= 0:
        x, y = a[lag_signed:lag_signed + len(b)], b[: max(0, len(a) - lag_signed)]
    else:
        x, y = a[: len(b) + lag_signed], b[-lag_signed:-lag_signed + len(a)]
    m = min(len(x), len(y))
    x, y = x[:m], y[:m]
    denom = float(np.sqrt(np.sum(x ** 2) * np.sum(y ** 2))) or 1e-20
    return {"correlation": float(np.sum(x * y) / denom), "lag_s": lag_signed / RATE,
            "overlap_s": m / RATE, "capture_rms_dbfs": db(np.sqrt(np.mean(a ** 2))),
            "tap_rms_dbfs": db(np.sqrt(np.mean(b ** 2)))}


def segment_match(capture, tap, segment_s=0.3):
    """Take the middle of the longest stretch of the capture without silence and find
    it in the tap: the best normalized correlation (1.0 = the same samples). Robust to
    dropouts, which shift the capture against the tap."""
    levels = window_db(capture)
    best, start = (0, 0), None
    for i, level in enumerate(list(levels) + [SILENT_DB - 1]):
        if level >= SILENT_DB and start is None:
            start = i
        elif level < SILENT_DB and start is not None:
            best = max(best, (i - start, start))
            start = None
    length_w, first_w = best
    n = int(RATE * WINDOW_S)
    seg_len = min(int(segment_s * RATE), length_w * n)
    if seg_len < n:
        return {"segment_correlation": None, "segment_s": 0.0}
    mid = (first_w * n) + (length_w * n - seg_len) // 2
    x = capture[mid:mid + seg_len].mean(axis=1)
    y = tap.mean(axis=1)
    if len(y) < seg_len:
        return {"segment_correlation": None, "segment_s": seg_len / RATE}
    size = 1 << int(np.ceil(np.log2(len(y) + seg_len)))
    corr = np.fft.irfft(np.fft.rfft(y, size) * np.conj(np.fft.rfft(x, size)), size)
    corr = corr[: len(y) - seg_len + 1]
    energy = np.cumsum(np.concatenate([[0.0], y ** 2]))
    window_energy = energy[seg_len:] - energy[:-seg_len]
    norm = np.sqrt(np.maximum(window_energy, 1e-20) * np.sum(x ** 2))
    score = corr / norm
    at = int(np.argmax(score))
    return {"segment_correlation": float(score[at]), "segment_s": seg_len / RATE,
            "segment_found_at_s_in_tap": at / RATE}


def unit_state():
    out = subprocess.run(
        ["systemctl", "show", "severed.service", "-p",
         "ActiveState,SubState,MainPID,StatusText,NRestarts,Result"],
        capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.strip().splitlines() if "=" in line)


def start_capture(path, seconds):
    return subprocess.Popen(["arecord", "-q", "-D", CAPTURE_DEVICE, "-f", "S16_LE",
                             "-r", str(RATE), "-c", str(CHANNELS), "-t", "raw",
                             "-d", str(int(seconds)), path])


def outage(sig, record_s, lead_s, path, timeout_s):
    """Capture the loopback, send ``sig`` to the daemon ``lead_s`` in, wait until
    systemd has it active again with a new PID; report the times and the silence."""
    before = unit_state()
    old_pid = int(before["MainPID"])
    if old_pid <= 0:
        return {"error": f"the daemon is not running: {before}"}
    t_launch = time.monotonic()
    capture = start_capture(path, record_s)
    time.sleep(lead_s)
    t_signal = time.monotonic()
    os.kill(old_pid, sig)
    states, t_ready, after = [], None, None
    last_active = None
    while time.monotonic() - t_signal < timeout_s:
        state = unit_state()
        now = time.monotonic() - t_signal
        key = (state["ActiveState"], state["SubState"], state["MainPID"])
        if key != last_active:
            states.append({"t": round(now, 3), "active": state["ActiveState"],
                           "sub": state["SubState"], "pid": int(state["MainPID"])})
            last_active = key
        if (state["ActiveState"] == "active" and int(state["MainPID"]) not in (0, old_pid)):
            t_ready, after = now, state
            break
        time.sleep(0.1)
    capture.wait()
    audio = read_raw(path)
    levels = window_db(audio)
    offset = t_signal - t_launch  # approximate position of the signal in the capture
    # The outage's silence ends after the signal plus the device's buffer; a dropout
    # (underrun) before the signal is not it.
    runs = [r for r in silent_runs(levels) if r[1] > offset + 0.3]
    gap = runs[0] if runs else None
    result = {
        "signal": signal.Signals(sig).name, "old_pid": old_pid,
        "ready_after_s": t_ready, "unit_after": after, "states": states,
        "capture_s": len(audio) / RATE, "signal_at_s_in_capture": round(offset, 3),
        "silence": None, "sound_back_after_s": None,
        "level_after": level(audio[int((gap[1] if gap else offset) * RATE):]) if len(audio) else None,
    }
    if gap:
        result["silence"] = {"start_s": gap[0], "end_s": gap[1], "length_s": gap[1] - gap[0]}
        if gap[1] < len(levels) * WINDOW_S:
            result["sound_back_after_s"] = round(gap[1] - offset, 3)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("level")
    p.add_argument("file")
    p.add_argument("--format", default="S16_LE", choices=sorted(FORMATS))
    p = sub.add_parser("compare")
    p.add_argument("capture")
    p.add_argument("tap")
    p = sub.add_parser("outage")
    p.add_argument("signal", help="KILL, STOP, ...")
    p.add_argument("--record-s", type=float, default=15.0)
    p.add_argument("--lead-s", type=float, default=2.0)
    p.add_argument("--timeout-s", type=float, default=60.0)
    p.add_argument("--file", default="/tmp/outage.raw")
    args = parser.parse_args()
    if args.cmd == "level":
        result = level(read_raw(args.file, args.format))
    elif args.cmd == "compare":
        capture, tap = read_raw(args.capture), read_wav(args.tap)
        result = compare(capture, tap)
        result.update(segment_match(capture, tap))
    else:
        sig = getattr(signal, "SIG" + args.signal.upper().removeprefix("SIG"))
        result = outage(sig, args.record_s, args.lead_s, args.file, args.timeout_s)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
