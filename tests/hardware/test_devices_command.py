"""``severed devices`` on the CI sound card (ALSA file PCMs) and its naming rule."""

import json

from severed.commands.devices import config_names

DEVICES = [
    {"name": "bcm2835 Headphones: - (hw:0,0)", "index": 0},
    {"name": "snd_rpi_hifiberry_dac: HifiBerry DAC HiFi pcm5102a-hifi-0 (hw:1,0)",
     "index": 1},
    {"name": "default", "index": 2},
]


def test_cards_are_named_by_their_stable_alsa_id():
    cards = {"Headphones": 0, "sndrpihifiberry": 1}
    assert config_names(DEVICES, cards) == [
        "plughw:CARD=Headphones,DEV=0", "plughw:CARD=sndrpihifiberry,DEV=0", "default"]


def test_without_proc_asound_cards_names_are_kept():
    assert config_names(DEVICES, {}) == [d["name"] for d in DEVICES]


def test_devices_command_lists_the_alsa_devices(alsa_home, run_in_alsa_home, tmp_path):
    home, _ = alsa_home
    site = tmp_path / "site.toml"
    site.write_text('[audio]\ndevice = "severedtest"\n')
    code = "import sys; from severed.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = run_in_alsa_home(home, code, "devices", "--json", "--config", str(site))
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    names = {d["name"]: d for d in report["devices"]}
    assert {"default", "severedtest"} <= set(names)
    assert report["chosen_index"] == names["severedtest"]["index"]
    proc = run_in_alsa_home(home, code, "devices")
    assert proc.returncode == 0
    assert '"severedtest"' in proc.stdout and "[audio] device =" in proc.stdout
