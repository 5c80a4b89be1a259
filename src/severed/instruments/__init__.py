"""The default show's precomputed instruments, registered as precompute recipes.

Importing this package registers the recipes (``severed.precompute.recipes.RECIPES``):

- ``felt_note``: a felt piano note with a long natural decay (``piano``);
- ``elevator_bell``: the ding, a struck bar with inharmonic partials (``bell``);
- ``string_swell``: bowed string voices swelling, from one note to a tight cluster
  (``strings``);
- ``stapler``, ``pen_click``, ``keyboard``, ``chatter``: found-sound one-shots
  (``foley``);
- ``waiting_room``: the reward music, sanitised (``muzak``).

Everything is synthesised from the project's own DSP kit (``severed.engine.dsp``):
no recording ships with the project. Ask for one from a show through a ``sampler``
layer (``recipe = "felt_note"``) or the ``motif``, ``rhythm`` and ``cue`` layers.
"""

from severed.instruments import bell, foley, muzak, piano, strings  # noqa: F401  (registers)

__all__ = ["bell", "foley", "muzak", "piano", "strings"]
