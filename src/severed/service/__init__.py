"""The daemon's service layer: everything between the render loop and the outside world.

=================  ==========================================================
``notify``         sd_notify: READY/STATUS/STOPPING, the block-driven watchdog
``journal``        logging to the journal (structured fields) or the console
``control``        the control socket server and client (JSON lines)
``socketpath``     where the control socket lives; which directories to trust
``ratelimit``      floods: a token bucket for commands, summaries of repeated lines
``handler``        what each control command does to the render loop
``record``         recording the loop's output into a WAV file
``doctor``         installation checks for ``severed doctor``
``safemode``       crash counting: safe mode after repeated unclean starts
``realtime``       SCHED_FIFO for the render thread when allowed
=================  ==========================================================

Each module is imported on its own (``from severed.service.control import
ControlClient``) so the maintenance commands start without loading the engine.
"""
