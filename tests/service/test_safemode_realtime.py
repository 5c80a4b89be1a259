import json
import os
import threading

import pytest

from severed.service.realtime import current_policy, try_realtime
from severed.service.safemode import CrashCounter


def test_three_unclean_starts_within_the_window_mean_safe_mode(tmp_path):
    counter = CrashCounter(tmp_path / "state", limit=3, window_s=300)
    assert [counter.should_use_safe_mode(t) for t in (1000, 1060, 1120)] == [False] * 3
    assert counter.should_use_safe_mode(1180) is True  # three crashed before this one
    assert json.loads((tmp_path / "state" / "starts.json").read_text())["starts"] == [
        1000, 1060, 1120, 1180]


def test_old_crashes_fall_out_of_the_window(tmp_path):
    counter = CrashCounter(tmp_path, limit=3, window_s=300)
    for t in (0, 100, 200):
        counter.should_use_safe_mode(t)
    assert counter.should_use_safe_mode(301) is False  # start at 0 is 301 s old
    assert counter.starts() == [100, 200, 301]


def test_a_clean_stop_clears_the_record(tmp_path):
    counter = CrashCounter(tmp_path, limit=3, window_s=300)
    for t in (0, 10, 20):
        counter.should_use_safe_mode(t)
    counter.clear()
    counter.clear()  # twice is harmless
    assert counter.should_use_safe_mode(30) is False
    assert counter.starts() == [30]


def test_damaged_or_unwritable_record_never_blocks_a_start(tmp_path):
    (tmp_path / "starts.json").write_text("{half")
    counter = CrashCounter(tmp_path, limit=1)
    assert counter.starts() == []
    assert counter.should_use_safe_mode(5) is False
    (tmp_path / "starts.json").write_text('["not", "a", "dict"]')
    assert counter.starts() == []
    blocked = CrashCounter(tmp_path / "starts.json" / "sub")  # a file where a dir should be
    assert blocked.should_use_safe_mode(5) is False


def test_realtime_applies_to_the_calling_thread_only():
    main_policy = current_policy()
    result = {}

    def render_thread():
        result["ok"] = try_realtime(10)
        result["policy"] = current_policy()
        result["priority"] = os.sched_getparam(0).sched_priority

    thread = threading.Thread(target=render_thread)
    thread.start()
    thread.join()
    if result["ok"]:
        assert result["policy"] == "SCHED_FIFO" and result["priority"] == 10
    else:
        assert result["policy"] == "SCHED_OTHER"
    assert current_policy() == main_policy == "SCHED_OTHER"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_realtime_refused_without_rtprio_says_why():
    import pwd
    import resource
    nobody = pwd.getpwnam("nobody")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            import logging
            records = []
            handler = logging.Handler()
            handler.emit = records.append
            logging.getLogger("severed.service.realtime").addHandler(handler)
            ok = try_realtime(10)
            os.write(w, f"{ok}|{records[0].getMessage() if records else ''}".encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    ok, message = os.read(r, 4096).decode().split("|", 1)
    os.close(r)
    assert ok == "False"
    assert message == ("render thread stays at normal priority: SCHED_FIFO 10 not allowed "
                       "(RLIMIT_RTPRIO is 0; the unit's LimitRTPRIO= raises it)")
