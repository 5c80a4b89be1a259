import io
import logging

from severed.service.journal import setup_logging, under_systemd


def test_under_systemd_from_environment():
    assert under_systemd({}) is False
    assert under_systemd({"JOURNAL_STREAM": "8:12345"}) is True
    assert under_systemd({"INVOCATION_ID": "abc"}) is True


def test_journal_handler_under_systemd_passes_extra_fields():
    sent = []

    def send(MESSAGE, **fields):
        sent.append((MESSAGE, fields))

    handler = setup_logging("INFO", env={"INVOCATION_ID": "x"}, journal_send=send)
    try:
        logging.getLogger("severed.show").warning("scene %s -> %s", "outie", "innie",
                                                  extra={"SCENE": "innie"})
        logging.getLogger("severed.x").debug("hidden below INFO")
    finally:
        logging.getLogger().removeHandler(handler)
    assert len(sent) == 1
    message, fields = sent[0]
    assert message == "severed.show: scene outie -> innie"
    assert fields["SCENE"] == "innie"
    assert fields["PRIORITY"] == "4"  # LOG_WARNING
    assert fields["SYSLOG_IDENTIFIER"] == "severed"


def test_console_handler_elsewhere_shows_fields():
    stream = io.StringIO()
    handler = setup_logging("DEBUG", env={}, stream=stream)
    second = setup_logging("DEBUG", env={}, stream=stream)  # replaces, does not stack
    try:
        assert handler not in logging.getLogger().handlers
        logging.getLogger("severed.hw").info("quarantined", extra={"SENSOR": "motion"})
    finally:
        logging.getLogger().removeHandler(second)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("INFO    severed.hw: quarantined [sensor=motion]")


def test_a_watchdog_abort_leaves_every_stack_in_the_journal():
    import subprocess
    import sys
    code = ("import os, signal, logging\n"
            "from severed.service.journal import setup_logging\n"
            "setup_logging(env={'INVOCATION_ID': 'x'}, journal_send=lambda *a, **k: None)\n"
            "def render_loop_stuck_here():\n"
            "    os.kill(os.getpid(), signal.SIGABRT)\n"
            "render_loop_stuck_here()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == -6  # SIGABRT, as systemd's watchdog sends it
    assert "Fatal Python error: Aborted" in done.stderr
    assert "render_loop_stuck_here" in done.stderr
