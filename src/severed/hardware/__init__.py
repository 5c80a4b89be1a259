"""The hardware edge of severed: GPIO sensors in, audio out, and their simulation.

=====================  ======================================================  ==========
module                 job                                                     threads
=====================  ======================================================  ==========
``sensors``            gpiozero devices -> raw edges ``on_edge(t, name, lvl)``  gpiozero's
``conditioning``       raw edges -> ``door.closed`` ... and faults (pure)       caller's
``sinks``              NullSink, WavSink, ``open_sink`` from ``[audio]``        caller's
``pyaudio_sink``       the sound card: render-ahead queue, writer thread,       one writer
                       zeros when late, reopen with backoff
``simulate``           a scenario or the keyboard drives mock pins              one each
=====================  ======================================================  ==========

Heavy imports (gpiozero, PyAudio) happen inside these modules, not here, so that
importing severed.hardware costs nothing.
"""
