"""The Qt front end over ``core``. How a view is built here:

1. **State** (``ssd_gui/state/<tab>.py``): a plain-Python object with the tab's data (what is open,
   what is selected, the last result) and an ``events`` group of :class:`ssd_gui.state.events.Event`.
   No Qt import: it is testable without a QApplication. Setters change a value and emit its event;
   nothing else changes it.
2. **Work** runs in core functions of the shape ``fn(..., on_progress=None, should_stop=None)``
   (``core/jobs.py``). The GUI runs one with :meth:`ssd_gui.views.base.View.run_job`, which wraps it in
   a :class:`ssd_gui.jobs.Job` (one QThread, signals ``progress`` / ``finished`` / ``failed``, cancel =
   a flag seen as ``should_stop``). Never subclass ``Job`` and never write another one-shot worker: pass
   a function (``functools.partial`` binds its arguments). The live frame pipeline of the Detect view
   (:mod:`ssd_gui.live`) is the one long-lived exception.
3. **Sub-widgets** (``ssd_gui/widgets/``) each render one concern (a transport bar, a class table,
   plots). They are handed the state, listen to its events and call its setters; they never read
   another widget back to know what is shown.
4. **The view** (``ssd_gui/views/<tab>_view.py``, a :class:`ssd_gui.views.base.View`) builds its
   sub-widgets on its state, starts jobs and writes their outcome into the state. The base gives it
   the message banner, ``show_error`` / ``show_info``, ``menu_actions``, ``is_busy`` and ``shutdown``.
   It emits requests (signals) for anything outside itself.
5. **The main window** (:mod:`ssd_gui.main_window`) owns the views, connects their requests to each
   other, builds the menus and keeps the settings.

Threading: widgets and state are touched on the GUI thread only; a job's signals are connected to
bound methods of GUI-thread QObjects (``Job.start`` checks it).
"""
import core  # noqa: F401, E402  (first: sets OpenMP's idle wait before torch loads; core/openmp.py)
