"""The reference in docs/configuration.md keeps up with the declared schemas."""

import re
from pathlib import Path

import pytest

from severed.config import scenario, show, site

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()

SECTIONS = [
    ("### `[site]`", site.SITE_FIELDS), ("### `[audio]`", site.AUDIO_FIELDS),
    ("### `[hours]`", site.HOURS_FIELDS), ("### `[sensors.NAME]`", site.SENSOR_FIELDS),
    ("### `[show]`", show.SHOW_FIELDS), ("### `[tension]`", show.TENSION_FIELDS),
    ("### `[scenes.NAME]`", show.SCENE_FIELDS), ("### `[[transitions]]`", show.TRANSITION_FIELDS),
    ("### `[[reactions]]`", show.REACTION_FIELDS[:3]),  # the guards share one row
    ("## Scenario file", scenario.SCENARIO_FIELDS + scenario.STEP_FIELDS),
]


def section(title):
    start = DOC.index(title)
    nxt = re.search(r"^##", DOC[start + len(title):], re.M)  # up to the next heading
    return DOC[start:start + len(title) + (nxt.start() if nxt else len(DOC))]


@pytest.mark.parametrize("title, fields", SECTIONS, ids=[t.strip("#` ") for t, _ in SECTIONS])
def test_every_key_has_a_row_in_its_section(title, fields):
    text = section(title)
    missing = [f.name for f in fields if f"| `{f.name}` |" not in text]
    assert missing == []


def test_choices_in_the_doc_match_the_schema():
    assert "| `sample_rate` | integer | `48000` | 44100, 48000, 88200, 96000 |" in DOC
    assert "auto, lgpio, rpigpio, pigpio, native, mock" in DOC
    for kind, d in site.KIND_DEFAULTS.items():
        row = (f"| {kind} | {d['pull']} | {d['active_state']} | {d['debounce']} | "
               f"{d['debounce_s']:g} | "
               f"{d['warmup_s']:g} | {d['merge_s']:g} | {d['flap_limit']} |")
        assert row in DOC
