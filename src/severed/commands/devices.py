"""``severed devices``: the sound outputs this machine has, named as the config wants."""

import json
import re


def register(sub):
    p = sub.add_parser(
        "devices", help="list audio output devices and the [audio] device name for each",
        description="List the audio output devices PortAudio sees, with the name to put in "
                    "[audio] device of the site config. Cards are named by their ALSA id "
                    "(plughw:CARD=...), which stays the same across boots; card numbers "
                    "do not.")
    p.add_argument("--config", metavar="SITE",
                   help="also show which device this site config's [audio] device picks")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def config_names(devices, cards):
    """For each device, the name to write in [audio] device: plughw:CARD=<id>,DEV=<d>
    for a card's hardware device (converting rates and formats), else its own name."""
    index_to_id = {index: card_id for card_id, index in cards.items()}
    names = []
    for dev in devices:
        m = re.search(r"\((?:plug)?hw:(\d+),(\d+)\)$", dev["name"])
        if m and int(m.group(1)) in index_to_id:
            names.append(f"plughw:CARD={index_to_id[int(m.group(1))]},DEV={m.group(2)}")
        else:
            names.append(dev["name"])
    return names


def run(args):
    from severed.errors import AudioDeviceError
    from severed.hardware.pyaudio_sink import (find_output_device, list_output_devices,
                                               read_alsa_cards)

    devices = list_output_devices()
    cards = read_alsa_cards()
    names = config_names(devices, cards)
    chosen = None
    wanted = None
    if args.config:
        from severed.config import load_site

        wanted = load_site(args.config).audio.device
        if wanted != "null" and not wanted.startswith("wav:"):
            try:
                chosen = find_output_device(devices, wanted, cards)["index"]
            except AudioDeviceError as exc:
                chosen = str(exc)
    if args.json:
        print(json.dumps({
            "devices": [dict(dev, config_name=name) for dev, name in zip(devices, names)],
            "cards": cards, "config_device": wanted,
            "chosen_index": chosen if isinstance(chosen, int) else None}, indent=2))
        return 0
    if not devices:
        print("No audio output device found.")
        print("On a Pi with a DAC HAT: check the dtoverlay line in /boot/firmware/config.txt "
              "(dtparam=audio=off as well), reboot, then `aplay -l`.")
        return 1
    print(f"{'#':>3}  {'ch':>3}  {'rate':>6}  {'[audio] device =':<40}  PortAudio name")
    for dev, name in zip(devices, names):
        mark = "*" if chosen == dev["index"] else " "
        print(f"{dev['index']:>3}{mark} {dev['max_channels']:>3}  "
              f"{dev['default_rate']:>6.0f}  {json.dumps(name):<40}  {dev['name']}")
    if cards:
        print("\nALSA cards: " + ", ".join(f"{i} {cid}" for cid, i in
                                           sorted(cards.items(), key=lambda x: x[1])))
    if wanted is not None:
        if isinstance(chosen, int):
            print(f"\n* {args.config}: [audio] device = {wanted!r} picks device {chosen}")
        elif chosen is None:
            print(f"\n{args.config}: [audio] device = {wanted!r} (no sound card used)")
        else:
            print(f"\n{args.config}: {chosen}")
            return 1
    return 0
